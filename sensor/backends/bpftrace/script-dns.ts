// DNS for the bpftrace backend: the question of every send to port 53.
//
// glibc's resolver connects a UDP socket and sends A and AAAA together with
// sendmmsg; others use send/sendto (connected or not), sendmsg or write.
// For each, one program decides (destination port 53, from the explicit
// address if the call has one, else from the connected socket) and writes
// an N line; the next program on the same tracepoint writes the payload's
// first DNS_CHUNK bytes as a Q line (the two do not fit one BPF stack).
// Not covered: writev (DNS over TCP after glibc's UDP fallback), sendmmsg
// messages after the second, payloads longer than DNS_CHUNK (cut).
import { HEADER_ARGS, HEADER_FMT } from './script-header.js';

export const DNS_CHUNK = 192;
const PORT_53_NET = 0x3500; // htons(53) as a little-endian CPU reads it

interface SendSite {
  tp: string;
  /** index on N/Q lines (sendmmsg's messages 0 and 1) */
  idx: number;
  /** bpftrace expressions; addr may be 0 (connected socket) */
  fd: string;
  addr: string;
  ptr: string;
  len: string;
  /** extra condition (write: the fd must be a socket) */
  guard?: string;
}

function sites(has: (name: string) => boolean): SendSite[] {
  const out: SendSite[] = [];
  if (has('sys_enter_sendto')) {
    out.push({ tp: 'sendto', idx: 0, fd: 'args->fd', addr: '(uint64)args->addr', ptr: '(uint64)args->buff', len: 'args->len' });
  }
  if (has('sys_enter_sendmsg')) {
    out.push({ tp: 'sendmsg', idx: 0, fd: 'args->fd', addr: '(uint64)args->msg->msg_name', ptr: '(uint64)args->msg->msg_iov->iov_base',
      len: 'args->msg->msg_iov->iov_len' });
  }
  if (has('sys_enter_sendmmsg')) {
    for (const i of [0, 1]) {
      const m = `((struct mmsghdr *)(args->mmsg + ${i}))->msg_hdr`;
      out.push({ tp: 'sendmmsg', idx: i, fd: 'args->fd', addr: `(uint64)${m}.msg_name`, ptr: `(uint64)${m}.msg_iov->iov_base`,
        len: `${m}.msg_iov->iov_len`, guard: `args->vlen > ${i}` });
    }
  }
  if (has('sys_enter_write')) {
    out.push({ tp: 'write', idx: 0, fd: 'args->fd', addr: '0', ptr: '(uint64)args->buf', len: 'args->count',
      guard: '($f->f_inode->i_mode & 0xF000) == 0xC000' }); // S_IFSOCK
  }
  return out;
}

export function dnsProbes(syscalls: Set<string>, watched: string): string {
  return sites((n) => syscalls.has(n)).map((s) => {
    const tp = `tracepoint:syscalls:sys_enter_${s.tp}`;
    const guard = s.guard ? ` && (${s.guard})` : '';
    return `${tp} /${watched}/ {
  $t = curtask;
  $fd = (uint64)${s.fd};
  $f = *($t->files->fdt->fd + $fd);
  $sk = ((struct socket *)$f->private_data)->sk;
  $fam = (uint64)$sk->__sk_common.skc_family;
  $port = (uint64)$sk->__sk_common.skc_dport;
  $a01 = (uint64)$sk->__sk_common.skc_daddr << 32; $a23 = (uint64)0;
  if ($fam == 10) {
    $a01 = ((uint64)$sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[0] << 32) | $sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[1];
    $a23 = ((uint64)$sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[2] << 32) | $sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[3];
  }
  $ua = ${s.addr};
  if ($ua != 0) {
    $sa = (struct sockaddr *)uptr($ua);
    $fam = $sa->sa_family;
    if ($fam == 2) {
      $in = (struct sockaddr_in *)$sa;
      $port = $in->sin_port; $a01 = (uint64)$in->sin_addr.s_addr << 32; $a23 = 0;
    } else if ($fam == 10) {
      $in6 = (struct sockaddr_in6 *)$sa;
      $port = $in6->sin6_port;
      $a01 = ((uint64)$in6->sin6_addr.in6_u.u6_addr32[0] << 32) | $in6->sin6_addr.in6_u.u6_addr32[1];
      $a23 = ((uint64)$in6->sin6_addr.in6_u.u6_addr32[2] << 32) | $in6->sin6_addr.in6_u.u6_addr32[3];
    } else { $port = 0; }
  }
  if ($port == ${PORT_53_NET} && ($fam == 2 || $fam == 10)${guard}) {
    $len = (uint64)${s.len};
    printf("N ${HEADER_FMT} %d %llu %llu %llu %llu %llu\\n", ${HEADER_ARGS}, ${s.idx}, $fd,
      ($fam << 48) | ($port << 32) | ((uint64)$sk->sk_type << 16) | $sk->sk_protocol, $a01, $a23, $len);
    @dq[tid] = ${s.ptr}; @dl[tid] = $len;
  }
}
${tp} /@dq[tid]/ {
  $l = @dl[tid]; if ($l > ${DNS_CHUNK}) { $l = ${DNS_CHUNK}; }
  printf("Q %d ${s.idx} %rx\\n", tid, buf(uptr(@dq[tid]), $l));
  delete(@dq[tid]); delete(@dl[tid]);
}`;
  }).join('\n');
}
