// Datagram destinations for the bpftrace script: a send with an explicit
// address on a datagram (or raw) socket is that socket's "connect" for the
// event stream, reported once per (process, fd, destination) like the
// libbpf side does. Enter stashes the fd and the user address; exit reads
// the address (the kernel has copied it, so its page is in), checks the
// socket type and the seen-set, and writes a G line with the send's result.
// IPv4 and IPv6 only: unix datagram destinations are not reported here.
// The seen-set @dg is a plain bpftrace hash (0.17 has no LRU maps); when it
// is full, a destination may be reported again rather than not at all.
import { HEADER_ARGS, HEADER_FMT } from './script-header.js';

export const DATAGRAM_MAPS = ['gs', 'gf'];

const SITES: { tp: string; addr: string }[] = [
  { tp: 'sendto', addr: '(uint64)args->addr' },
  { tp: 'sendmsg', addr: '(uint64)args->msg->msg_name' },
  { tp: 'sendmmsg', addr: '(uint64)((struct mmsghdr *)args->mmsg)->msg_hdr.msg_name' }, // the first message's
];

const SOCK_DGRAM = 2;
const SOCK_RAW = 3;

export function datagramProbes(syscalls: Set<string>, watched: string): string {
  const out: string[] = [];
  for (const s of SITES) {
    if (!syscalls.has(`sys_enter_${s.tp}`) || !syscalls.has(`sys_exit_${s.tp}`)) continue;
    out.push(`tracepoint:syscalls:sys_enter_${s.tp} /${watched}/ {
  $ua = ${s.addr};
  if ($ua != 0) { @gs[tid] = $ua; @gf[tid] = (uint64)args->fd; }
}
tracepoint:syscalls:sys_exit_${s.tp} /@gs[tid]/ {
  $t = curtask;
  $fd = @gf[tid];
  $sa = (struct sockaddr *)uptr(@gs[tid]);
  delete(@gs[tid]); delete(@gf[tid]);
  $f = *($t->files->fdt->fd + $fd);
  $sk = ((struct socket *)$f->private_data)->sk;
  $type = (uint64)$sk->sk_type;
  $fam = (uint64)$sa->sa_family;
  $port = (uint64)0; $a01 = (uint64)0; $a23 = (uint64)0;
  if ($fam == 2) {
    $in = (struct sockaddr_in *)$sa;
    $port = $in->sin_port; $a01 = (uint64)$in->sin_addr.s_addr << 32;
  } else if ($fam == 10) {
    $in6 = (struct sockaddr_in6 *)$sa;
    $port = $in6->sin6_port;
    $a01 = ((uint64)$in6->sin6_addr.in6_u.u6_addr32[0] << 32) | $in6->sin6_addr.in6_u.u6_addr32[1];
    $a23 = ((uint64)$in6->sin6_addr.in6_u.u6_addr32[2] << 32) | $in6->sin6_addr.in6_u.u6_addr32[3];
  }
  $fpk = ($fam << 48) | ($port << 32) | ($type << 16) | $sk->sk_protocol;
  if (($fam == 2 || $fam == 10) && ($type == ${SOCK_DGRAM} || $type == ${SOCK_RAW}) && @dg[pid, $fd, $fpk, $a01, $a23] == 0) {
    @dg[pid, $fd, $fpk, $a01, $a23] = 1;
    printf("G ${HEADER_FMT} %d %llu %llu %llu %llu\\n", ${HEADER_ARGS}, args->ret < 0 ? args->ret : 0, $fd << 32, $fpk, $a01, $a23);
  }
}`);
  }
  return out.join('\n');
}
