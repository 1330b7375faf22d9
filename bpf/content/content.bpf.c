// SPDX-License-Identifier: GPL-2.0
/* Content of agent processes, both directions: egress for DLP in user space,
 * both for the model turns (intent-capture.ts).
 *
 * A separate object from the sensor's (bpf/): loaded by the small
 * native/content/content-ctl program the sensor starts and talks to over
 * pipes, so the capture needs no change to the sensor's object or addon.
 *
 * Who is captured: the tgids in `tracked` (the sensor adds the agents it
 * knows; a process exec'd in a cgroup of `cgroups`, e.g. one `sensor launch`
 * made, is added here in the kernel, and forks inherit) and nobody else.
 *
 * Plain sockets, two levels; content-ctl attaches one:
 * - socket level (the default, below "socket level"): cgroup/connect4|6 and
 *   cgroup/sendmsg4|6 register a tracked process's TCP/UDP sockets by cookie
 *   (content-ctl also registers the ones it holds when tracked), and
 *   cgroup_skb/egress and cgroup_skb/ingress copy the packets of registered
 *   sockets only, each way. No program runs on anybody's read/write/open;
 *   an unregistered socket's packet ends at the cookie lookup.
 * - syscall level (the fallback when the cgroup programs cannot load or
 *   attach): sys_enter/exit of write, sendto, writev, sendmsg on inet
 *   sockets, every process, ended at the `tracked` lookup for all but
 *   agents (the fd's file is checked to be an AF_INET/AF_INET6 socket at
 *   enter; the bytes are copied at exit, as many as the call really sent).
 *   What plain sockets receive is not captured at this level.
 * TLS (both levels): uprobes on SSL_write/SSL_read(_ex), attached by path
 * (libssl, or a binary carrying OpenSSL such as node) by content-ctl; the
 * plaintext is copied at return. A socket stream (each direction on its own)
 * whose first bytes are a TLS record is left out (its plaintext comes through
 * the uprobes; ciphertext is useless to DLP and to the turn parser). The SSL*
 * is bound to its socket (a BIND record with the destination): at the socket
 * level by the packet the SSL_* call itself sends (content_skb_egress), at
 * the syscall level by the thread's first socket write after SSL_write.
 *
 * Bounds: at most `max_write` bytes a record (syscall level: of one call;
 * socket level: a packet in up to SKB_CHUNKS records) and `max_conn_egress`
 * / `max_conn_ingress` per connection and direction; what is cut is counted,
 * and `stream_off` keeps counting so user space sees every gap.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "content.h"

#define AF_INET 2
#define AF_INET6 10
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define MAX_IOV 8

const volatile __u32 max_write = 16384;
const volatile __u64 max_conn_egress = 256 * 1024;
const volatile __u64 max_conn_ingress = 1024 * 1024;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);   /* tgid */
	__type(value, __u32); /* 1 */
} tracked SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);   /* cgroup v2 id */
	__type(value, __u32);
} cgroups SEC(".maps");

/* A syscall in flight on a tracked thread's inet socket. */
struct sys_stash {
	__u64 sk;
	__u64 buf;      /* write/sendto: the buffer; writev/sendmsg: the iovec array */
	__u32 iovcnt;   /* 0: buf is a plain buffer */
	__u8 udp;
	__u8 _pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32); /* tid */
	__type(value, struct sys_stash);
} sys_inflight SEC(".maps");

struct ssl_stash {
	__u64 ssl;
	__u64 buf;
	__u64 sizep; /* _ex: size_t *written / *readbytes; 0 otherwise */
	__u8 direction;
	__u8 _pad[7];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32); /* tid */
	__type(value, struct ssl_stash);
} ssl_inflight SEC(".maps");

/* The SSL* a thread last wrote through and whose socket is not known yet. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32); /* tid */
	__type(value, __u64);
} ssl_unbound SEC(".maps");

struct conn_key {
	__u64 conn;
	__u32 tgid;
	__u32 direction;
};

struct conn_val {
	__u64 seen;
	__u32 tls;   /* a socket stream carrying TLS: not captured */
	__u32 bound; /* TLS: bound to a socket already */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct conn_key);
	__type(value, struct conn_val);
} conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct content_rec);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 * 1024 * 1024);
} rb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CONTENT_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(__u32 idx, __u64 n)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &idx);
	if (c)
		*c += n;
}

static __always_inline bool is_tracked(__u32 tgid)
{
	return bpf_map_lookup_elem(&tracked, &tgid) != NULL;
}

/* --- who is tracked: launched cgroups and forks, in the kernel --- */

SEC("tp_btf/sched_process_exec")
int BPF_PROG(content_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (is_tracked(tgid))
		return 0;
	__u64 cg = bpf_get_current_cgroup_id();
	if (!bpf_map_lookup_elem(&cgroups, &cg))
		return 0;
	__u32 one = 1;
	if (bpf_map_update_elem(&tracked, &tgid, &one, BPF_ANY))
		count(CONTENT_CNT_TRACKED_FULL, 1);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(content_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = parent->tgid;
	if (!is_tracked(ptgid))
		return 0;
	__u32 ctgid = child->tgid;
	if (ctgid == ptgid) /* a thread */
		return 0;
	__u32 one = 1;
	if (bpf_map_update_elem(&tracked, &ctgid, &one, BPF_ANY))
		count(CONTENT_CNT_TRACKED_FULL, 1);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(content_exit, struct task_struct *p)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	if (!is_tracked(tgid))
		return 0;
	bpf_map_delete_elem(&sys_inflight, &tid);
	bpf_map_delete_elem(&ssl_inflight, &tid);
	bpf_map_delete_elem(&ssl_unbound, &tid);
	if (tgid == tid)
		bpf_map_delete_elem(&tracked, &tgid);
	return 0;
}

/* A connect of a tracked process starts a new stream on that socket: a
 * struct sock's address is reused once freed, and the old entry's offset,
 * budget and TLS mark must not carry over. (TCP only; SYN_SENT is set in the
 * connecting task's context.) */
SEC("tracepoint/sock/inet_sock_set_state")
int content_sock_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	if (ctx->newstate != TCP_SYN_SENT)
		return 0;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!is_tracked(tgid))
		return 0;
	struct conn_key k = { .conn = (__u64)ctx->skaddr, .tgid = tgid, .direction = CONTENT_EGRESS };
	bpf_map_delete_elem(&conns, &k);
	k.direction = CONTENT_INGRESS;
	bpf_map_delete_elem(&conns, &k);
	return 0;
}

/* --- emitting --- */

/* The first bytes of a TLS record (RFC 8446 5.1): content type 20..23
 * (change_cipher_spec, alert, handshake, application data), version 3.x. A
 * stream starting so is TLS: its plaintext comes from the uprobes. Not only
 * 0x16: a socket first seen mid-stream starts at an application-data record. */
static __always_inline bool tls_record_head(const __u8 *h)
{
	return h[0] >= 0x14 && h[0] <= 0x17 && h[1] == 0x03 && h[2] <= 0x04;
}

/* Copies up to the bounds of `n` bytes at `ubuf` of a stream into one record. */
struct emit_req {
	__u64 conn;
	__u64 ubuf;
	__u64 n;
	__u64 sk;
	__u32 tgid;
	__u32 tid;
	__u8 source;
	__u8 direction;
	__u8 udp;
	__u8 _pad[5];
};

/*
 * A record into the ring, waking content-ctl only when the waiting data
 * crosses a multiple of RB_WAKEUP_BYTES: a wakeup per record is an
 * interrupt per captured write (a VM exit on a guest), most of a tracked
 * SSL_write's cost. Records below the mark are found by content-ctl's
 * short poll timeout.
 */
#define RB_WAKEUP_BYTES (64 * 1024)
static __always_inline long rb_output(void *data, __u64 size)
{
	__u64 avail = bpf_ringbuf_query(&rb, BPF_RB_AVAIL_DATA);
	__u64 flags = BPF_RB_NO_WAKEUP;

	if (avail / RB_WAKEUP_BYTES != (avail + size + 8) / RB_WAKEUP_BYTES)
		flags = BPF_RB_FORCE_WAKEUP;
	return bpf_ringbuf_output(&rb, data, size, flags);
}

/* The state of one connection and direction, created empty on first use. */
static __always_inline struct conn_val *conn_state(struct conn_key *k)
{
	struct conn_val *cv = bpf_map_lookup_elem(&conns, k);
	if (!cv) {
		struct conn_val zero = {};
		bpf_map_update_elem(&conns, k, &zero, BPF_NOEXIST);
		cv = bpf_map_lookup_elem(&conns, k);
	}
	return cv;
}

static __noinline int emit(struct emit_req *q)
{
	__u64 conn = q->conn, ubuf = q->ubuf, n = q->n, sk = q->sk;
	__u32 tgid = q->tgid, tid = q->tid;
	__u8 source = q->source, direction = q->direction, udp = q->udp;
	struct conn_key k = { .conn = conn, .tgid = tgid, .direction = direction };
	struct conn_val *cv = conn_state(&k);
	if (!cv)
		return 0;
	if (cv->tls)
		return 0;
	__u64 off = cv->seen;
	if (source == CONTENT_SOURCE_SOCKET && direction == CONTENT_EGRESS && off == 0 && n >= 3) {
		__u8 head[3] = {};
		if (bpf_probe_read_user(head, sizeof head, (void *)ubuf) == 0 && tls_record_head(head)) {
			cv->tls = 1;
			count(CONTENT_CNT_TLS_SOCKETS, 1);
			return 0;
		}
	}
	__sync_fetch_and_add(&cv->seen, n);
	__u64 budget = direction == CONTENT_EGRESS ? max_conn_egress : max_conn_ingress;
	if (off >= budget) {
		count(CONTENT_CNT_CUT_CONN, n);
		return 0;
	}
	__u64 take = n;
	__u8 flags = udp ? CONTENT_FLAG_UDP : 0;
	if (take > max_write) {
		count(CONTENT_CNT_CUT_WRITE, take - max_write);
		take = max_write;
	}
	if (off + take >= budget) {
		if (off + n > budget)
			count(CONTENT_CNT_CUT_CONN, off + take - budget);
		take = budget - off;
		flags |= CONTENT_FLAG_BUDGET;
	}
	__u32 zero = 0;
	struct content_rec *r = bpf_map_lookup_elem(&scratch, &zero);
	if (!r)
		return 0;
	if (take > CONTENT_MAX_WRITE)
		take = CONTENT_MAX_WRITE;
	__u32 len = take;
	len &= (CONTENT_MAX_WRITE * 2 - 1);
	if (len > CONTENT_MAX_WRITE)
		return 0;
	if (len > 0 && bpf_probe_read_user(r->data, len, (void *)ubuf) != 0) {
		count(CONTENT_CNT_READ_FAULTS, 1);
		len = 0;
	}
	r->h.ktime_ns = bpf_ktime_get_ns();
	r->h.conn_id = conn;
	r->h.stream_off = off;
	r->h.sock_id = sk;
	r->h.tgid = tgid;
	r->h.tid = tid;
	r->h.len = len;
	r->h.orig_len = n;
	r->h.kind = CONTENT_KIND_DATA;
	r->h.source = source;
	r->h.direction = direction;
	r->h.flags = flags;
	r->h.family = 0;
	r->h.dport = 0;
	__builtin_memset(r->h.daddr, 0, sizeof r->h.daddr);
	if (sk) {
		struct sock *s = (struct sock *)sk;
		r->h.family = BPF_CORE_READ(s, __sk_common.skc_family);
		r->h.dport = bpf_ntohs(BPF_CORE_READ(s, __sk_common.skc_dport));
		if (r->h.family == AF_INET) {
			__u32 a = BPF_CORE_READ(s, __sk_common.skc_daddr);
			__builtin_memcpy(r->h.daddr, &a, 4);
		} else {
			BPF_CORE_READ_INTO(&r->h.daddr, s, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
		}
	}
	__u64 size = sizeof(struct content_hdr) + len;
	if (size > sizeof(*r))
		return 0;
	if (rb_output(r, size)) {
		count(CONTENT_CNT_LOST_RECORDS, 1);
		count(CONTENT_CNT_LOST_BYTES, len);
		return 0;
	}
	count(CONTENT_CNT_RECORDS, 1);
	count(CONTENT_CNT_BYTES, len);
	return 0;
}

/* The socket behind an fd of the current task when it is an inet socket, else 0. */
static __always_inline __u64 inet_sock_of(int fd, __u8 *udp)
{
	if (fd < 0)
		return 0;
	struct task_struct *t = bpf_get_current_task_btf();
	struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
	if (!fdt || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = NULL;
	if (bpf_probe_read_kernel(&f, sizeof f, &fds[fd]) || !f)
		return 0;
	umode_t mode = BPF_CORE_READ(f, f_inode, i_mode);
	if ((mode & S_IFMT) != S_IFSOCK)
		return 0;
	struct socket *sock = BPF_CORE_READ(f, private_data);
	struct sock *sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return 0;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return 0;
	*udp = BPF_CORE_READ(sk, sk_protocol) == IPPROTO_UDP;
	return (__u64)sk;
}

static __always_inline int sys_enter(int fd, __u64 buf, __u32 iovcnt)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	if (!is_tracked(tgid))
		return 0;
	__u8 udp = 0;
	__u64 sk = inet_sock_of(fd, &udp);
	if (!sk)
		return 0;
	struct sys_stash s = { .sk = sk, .buf = buf, .iovcnt = iovcnt, .udp = udp };
	bpf_map_update_elem(&sys_inflight, &tid, &s, BPF_ANY);
	return 0;
}

/* A TLS stream whose SSL_write just returned on this thread is carried by the socket written next. */
static __always_inline void bind_tls(__u32 tgid, __u32 tid, __u64 sk)
{
	__u64 *ssl = bpf_map_lookup_elem(&ssl_unbound, &tid);
	if (!ssl)
		return;
	__u64 s = *ssl;
	bpf_map_delete_elem(&ssl_unbound, &tid);
	struct conn_key k = { .conn = s, .tgid = tgid, .direction = CONTENT_EGRESS };
	struct conn_val *cv = bpf_map_lookup_elem(&conns, &k);
	if (cv) {
		if (cv->bound)
			return;
		cv->bound = 1;
	}
	__u32 zero = 0;
	struct content_rec *r = bpf_map_lookup_elem(&scratch, &zero);
	if (!r)
		return;
	struct sock *so = (struct sock *)sk;
	__builtin_memset(&r->h, 0, sizeof r->h);
	r->h.ktime_ns = bpf_ktime_get_ns();
	r->h.conn_id = s;
	r->h.sock_id = sk;
	r->h.tgid = tgid;
	r->h.tid = tid;
	r->h.kind = CONTENT_KIND_BIND;
	r->h.source = CONTENT_SOURCE_TLS;
	r->h.direction = CONTENT_EGRESS;
	r->h.family = BPF_CORE_READ(so, __sk_common.skc_family);
	r->h.dport = bpf_ntohs(BPF_CORE_READ(so, __sk_common.skc_dport));
	if (r->h.family == AF_INET) {
		__u32 a = BPF_CORE_READ(so, __sk_common.skc_daddr);
		__builtin_memcpy(r->h.daddr, &a, 4);
	} else {
		BPF_CORE_READ_INTO(&r->h.daddr, so, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	}
	if (rb_output(r, sizeof(struct content_hdr)))
		count(CONTENT_CNT_LOST_RECORDS, 1);
}

static __always_inline int sys_exit(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	if (!is_tracked(tgid))
		return 0;
	struct sys_stash *sp = bpf_map_lookup_elem(&sys_inflight, &tid);
	if (!sp)
		return 0;
	struct sys_stash s = *sp;
	bpf_map_delete_elem(&sys_inflight, &tid);
	if (ret <= 0)
		return 0;
	bind_tls(tgid, tid, s.sk);
	if (s.iovcnt == 0) {
		struct emit_req q = { .conn = s.sk, .ubuf = s.buf, .n = ret, .sk = s.sk, .tgid = tgid, .tid = tid,
				      .source = CONTENT_SOURCE_SOCKET, .direction = CONTENT_EGRESS, .udp = s.udp };
		emit(&q);
		return 0;
	}
	__u64 left = ret;
	for (int i = 0; i < MAX_IOV; i++) {
		if (i >= s.iovcnt || left == 0)
			break;
		struct iovec v = {};
		if (bpf_probe_read_user(&v, sizeof v, (void *)(s.buf + i * sizeof(struct iovec))))
			break;
		__u64 n = v.iov_len < left ? v.iov_len : left;
		if (n) {
			struct emit_req q = { .conn = s.sk, .ubuf = (__u64)v.iov_base, .n = n, .sk = s.sk, .tgid = tgid,
					      .tid = tid, .source = CONTENT_SOURCE_SOCKET, .direction = CONTENT_EGRESS, .udp = s.udp };
			emit(&q);
		}
		left -= n;
	}
	if (left)
		count(CONTENT_CNT_CUT_WRITE, left); /* iovecs beyond MAX_IOV */
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_write")
int content_enter_write(struct trace_event_raw_sys_enter *ctx)
{
	return sys_enter((int)ctx->args[0], ctx->args[1], 0);
}

SEC("tracepoint/syscalls/sys_exit_write")
int content_exit_write(struct trace_event_raw_sys_exit *ctx)
{
	return sys_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_sendto")
int content_enter_sendto(struct trace_event_raw_sys_enter *ctx)
{
	return sys_enter((int)ctx->args[0], ctx->args[1], 0);
}

SEC("tracepoint/syscalls/sys_exit_sendto")
int content_exit_sendto(struct trace_event_raw_sys_exit *ctx)
{
	return sys_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_writev")
int content_enter_writev(struct trace_event_raw_sys_enter *ctx)
{
	__u32 cnt = ctx->args[2];
	return sys_enter((int)ctx->args[0], ctx->args[1], cnt ? cnt : 1);
}

SEC("tracepoint/syscalls/sys_exit_writev")
int content_exit_writev(struct trace_event_raw_sys_exit *ctx)
{
	return sys_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int content_enter_sendmsg(struct trace_event_raw_sys_enter *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!is_tracked(id >> 32))
		return 0;
	struct user_msghdr m = {};
	if (bpf_probe_read_user(&m, sizeof m, (void *)ctx->args[1]))
		return 0;
	__u32 cnt = m.msg_iovlen;
	return sys_enter((int)ctx->args[0], (__u64)m.msg_iov, cnt ? cnt : 1);
}

SEC("tracepoint/syscalls/sys_exit_sendmsg")
int content_exit_sendmsg(struct trace_event_raw_sys_exit *ctx)
{
	return sys_exit(ctx->ret);
}

/* --- socket level: agent sockets only (the default; content-ctl falls back to
 * the syscall hooks above when these cannot attach) ---
 *
 * cgroup/connect4|6 and cgroup/sendmsg4|6 run in the calling task on connect()
 * and on an unconnected UDP send: a tracked tgid's socket is registered there
 * by its cookie (unique for the kernel's uptime, never reused, so nothing
 * carries over from an older socket). cgroup_skb/egress and cgroup_skb/ingress
 * then run per packet (not per syscall) of every inet socket, attached at the
 * cgroup v2 root, and end at the cookie lookup for every socket not
 * registered. Untracked processes pay nothing on read/write/open; their
 * packets pay one cookie lookup each way.
 *
 * TCP: the payload of each segment, its stream offset taken from the
 * sequence number relative to that direction's ISN: leaving, our SYN's
 * sequence (seen at egress since the cookie is registered before the SYN
 * goes out); arriving, the peer's, from its SYN-ACK. A socket first seen
 * mid-stream (registered by content-ctl at `track`) counts from its first
 * segment each way. Bytes at offsets already seen (a retransmit; arriving,
 * also a duplicate) are counted, not captured twice. Arriving segments are
 * seen where the stack filters them (sk_filter, before TCP reorders): one
 * that lands after a later one (loss, reordering) is counted as seen again
 * and its bytes show to user space as a gap. A segment is the unit the
 * per-write bound applies to (with TSO/GSO or GRO one skb can carry up to 64
 * KiB; a small write on an idle socket is one segment). Offsets are 32-bit
 * (a stream past 4 GiB wraps: far past any budget). UDP: one chunk per
 * datagram. */

struct sock_owner {
	__u32 tgid;
	__u32 isn;       /* TCP: sequence number of our SYN */
	__u64 ssl;       /* the SSL * this socket carries, once bound */
	__u8 isn_known;
	__u8 peer_isn_known;
	__u8 _pad[2];
	__u32 peer_isn;  /* TCP: sequence number of the peer's SYN-ACK */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64); /* socket cookie */
	__type(value, struct sock_owner);
} agent_socks SEC(".maps");

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD

struct skb_req {
	__u64 cookie;
	__u64 off;      /* TCP: stream offset of the payload's first byte */
	__u32 data_off; /* where the payload starts in the skb */
	__u32 n;        /* payload bytes */
	__u32 tgid;
	__u32 tid;      /* egress in the owner's context; 0 otherwise (ingress runs in softirq) */
	__u8 udp;
	__u8 direction; /* enum content_direction */
	__u16 family;
	__u16 dport;    /* the peer's port (egress: destination, ingress: source) */
	__u8 _pad2[6];
	__u8 daddr[16]; /* the peer's address */
};

static __always_inline void count_sockets(__u64 n)
{
	count(CONTENT_CNT_SOCKETS, n);
}

struct skb_chunk {
	__u64 off;      /* stream offset */
	__u32 data_off; /* in the skb */
	__u32 len;      /* 1..CONTENT_MAX_WRITE */
	__u32 orig_len;
	__u8 flags;
	__u8 _pad[3];
};

/* One record of c->len payload bytes at c->data_off. */
static __noinline int emit_chunk(struct __sk_buff *skb, struct skb_req *q, struct skb_chunk *c)
{
	__u64 off = c->off;
	__u32 data_off = c->data_off, len = c->len, orig_len = c->orig_len;
	__u8 flags = c->flags;
	__u32 zero = 0;
	struct content_rec *r = bpf_map_lookup_elem(&scratch, &zero);
	if (!r)
		return 0;
	/* [1, CONTENT_MAX_WRITE] by construction (= len here): clang folds a
	 * range check into one the verifier cannot use for the size. */
	__u32 n_load = ((len - 1) & (CONTENT_MAX_WRITE - 1)) + 1;
	if (bpf_skb_load_bytes(skb, data_off, r->data, n_load) != 0) {
		count(CONTENT_CNT_READ_FAULTS, 1);
		n_load = 0;
	}
	r->h.ktime_ns = bpf_ktime_get_ns();
	r->h.conn_id = q->cookie;
	r->h.stream_off = off;
	r->h.sock_id = q->cookie;
	r->h.tgid = q->tgid;
	r->h.tid = q->tid;
	r->h.len = n_load;
	r->h.orig_len = orig_len;
	r->h.kind = CONTENT_KIND_DATA;
	r->h.source = CONTENT_SOURCE_SOCKET;
	r->h.direction = q->direction;
	r->h.flags = flags;
	r->h.family = q->family;
	r->h.dport = q->dport;
	__builtin_memcpy(r->h.daddr, q->daddr, sizeof r->h.daddr);
	if (rb_output(r, sizeof(struct content_hdr) + n_load)) {
		count(CONTENT_CNT_LOST_RECORDS, 1);
		count(CONTENT_CNT_LOST_BYTES, n_load);
		return 0;
	}
	count(CONTENT_CNT_RECORDS, 1);
	count(CONTENT_CNT_BYTES, n_load);
	return 0;
}

/*
 * A packet's new payload, within the bounds. The per-packet bound is
 * SKB_CHUNKS records of at most max_write bytes each (128 KiB at the default
 * 16 KiB, twice the usual 64 KiB GSO size): small writes coalesced into one
 * segment (autocork, Nagle, TSO) are not cut to the first max_write bytes.
 */
#define SKB_CHUNKS 8
static __noinline int emit_skb(struct __sk_buff *skb, struct skb_req *q)
{
	struct conn_key k = { .conn = q->cookie, .tgid = q->tgid, .direction = q->direction };
	struct conn_val *cv = conn_state(&k);
	if (!cv)
		return 0;
	if (cv->tls)
		return 0;
	__u64 n = q->n, data_off = q->data_off, off;
	if (q->udp) {
		off = cv->seen;
		cv->seen += n;
	} else {
		__u64 end = q->off + n;
		if (end <= cv->seen) {
			count(CONTENT_CNT_RETRANS_BYTES, n);
			return 0;
		}
		off = q->off;
		if (off < cv->seen) {
			__u64 dup = cv->seen - off;
			count(CONTENT_CNT_RETRANS_BYTES, dup);
			data_off += dup;
			n -= dup;
			off = cv->seen;
		}
		cv->seen = end;
	}
	if (off == 0 && n >= 3) {
		__u8 head[3] = {};
		if (bpf_skb_load_bytes(skb, data_off, head, sizeof head) == 0 && tls_record_head(head)) {
			cv->tls = 1;
			count(CONTENT_CNT_TLS_SOCKETS, 1);
			return 0;
		}
	}
	__u64 budget = q->direction == CONTENT_EGRESS ? max_conn_egress : max_conn_ingress;
	if (off >= budget) {
		count(CONTENT_CNT_CUT_CONN, n);
		return 0;
	}
	__u64 chunk = max_write < CONTENT_MAX_WRITE ? max_write : CONTENT_MAX_WRITE;
	__u64 take = n, per_packet = chunk * SKB_CHUNKS;
	__u8 flags = q->udp ? CONTENT_FLAG_UDP : 0, last_flags = flags;
	if (take > per_packet) {
		count(CONTENT_CNT_CUT_WRITE, take - per_packet);
		take = per_packet;
	}
	if (off + take >= budget) {
		if (off + n > budget)
			count(CONTENT_CNT_CUT_CONN, off + take - budget);
		take = budget - off;
		last_flags |= CONTENT_FLAG_BUDGET;
	}
	if (chunk == 0)
		return 0;
	__u64 done = 0;
	for (int i = 0; i < SKB_CHUNKS; i++) {
		__u64 left = take - done;
		if (done >= take)
			break;
		__u32 len = left < chunk ? left : chunk;
		bool last = done + len >= take;
		/* The last record's orig_len covers what this packet had beyond it (cut). */
		__u32 orig = last ? n - done : len;
		struct skb_chunk c = { .off = off + done, .data_off = data_off + done, .len = len, .orig_len = orig,
				       .flags = last ? last_flags : flags };
		emit_chunk(skb, q, &c);
		done += len;
	}
	return 0;
}

/* The TLS stream `ssl` is carried by the socket of q (a BIND record). */
static __noinline void emit_bind(__u64 ssl, struct skb_req *q)
{
	struct conn_key k = { .conn = ssl, .tgid = q->tgid, .direction = CONTENT_EGRESS };
	struct conn_val *cv = bpf_map_lookup_elem(&conns, &k);
	if (!cv) {
		struct conn_val v = { .bound = 1 };
		bpf_map_update_elem(&conns, &k, &v, BPF_NOEXIST);
	} else if (cv->bound) {
		return;
	} else {
		cv->bound = 1;
	}
	__u32 zero = 0;
	struct content_rec *r = bpf_map_lookup_elem(&scratch, &zero);
	if (!r)
		return;
	__builtin_memset(&r->h, 0, sizeof r->h);
	r->h.ktime_ns = bpf_ktime_get_ns();
	r->h.conn_id = ssl;
	r->h.sock_id = q->cookie;
	r->h.tgid = q->tgid;
	r->h.tid = q->tid;
	r->h.kind = CONTENT_KIND_BIND;
	r->h.source = CONTENT_SOURCE_TLS;
	r->h.direction = CONTENT_EGRESS;
	r->h.family = q->family;
	r->h.dport = q->dport;
	__builtin_memcpy(r->h.daddr, q->daddr, sizeof r->h.daddr);
	if (rb_output(r, sizeof(struct content_hdr)))
		count(CONTENT_CNT_LOST_RECORDS, 1);
}

/* A tracked process's TCP or UDP socket, by cookie. */
static __always_inline int register_sock(struct bpf_sock_addr *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!is_tracked(tgid))
		return 1;
	if (ctx->protocol != IPPROTO_TCP && ctx->protocol != IPPROTO_UDP)
		return 1;
	__u64 cookie = bpf_get_socket_cookie(ctx);
	struct sock_owner *o = bpf_map_lookup_elem(&agent_socks, &cookie);
	if (o && o->tgid == tgid)
		return 1;
	struct sock_owner v = { .tgid = tgid };
	if (bpf_map_update_elem(&agent_socks, &cookie, &v, BPF_ANY) == 0)
		count_sockets(1);
	return 1;
}

SEC("cgroup/connect4")
int content_connect4(struct bpf_sock_addr *ctx)
{
	return register_sock(ctx);
}

SEC("cgroup/connect6")
int content_connect6(struct bpf_sock_addr *ctx)
{
	return register_sock(ctx);
}

SEC("cgroup/sendmsg4")
int content_sendmsg4(struct bpf_sock_addr *ctx)
{
	return register_sock(ctx);
}

SEC("cgroup/sendmsg6")
int content_sendmsg6(struct bpf_sock_addr *ctx)
{
	return register_sock(ctx);
}

/*
 * TLS binding without a hook on writes: a packet of an agent socket that
 * leaves in the context of a thread which is inside SSL_write/SSL_read (the
 * uprobe's ssl_inflight entry) of the same process was written by that call,
 * so the SSL * is carried by this socket. Approximate in one case: a segment
 * sent from softirq (deferred by Nagle, cwnd or TSQ) runs in whatever task it
 * interrupted; if that is another thread of the same agent inside SSL_* on
 * another SSL, the pair is wrong. Each socket and each SSL binds once, which
 * keeps that to a socket whose own SSL never sent in its own context.
 *
 * A packet of a registered socket, either way: its payload within the bounds.
 */
static __always_inline int skb_packet(struct __sk_buff *skb, bool ingress)
{
	__u64 cookie = bpf_get_socket_cookie(skb);
	struct sock_owner *o = bpf_map_lookup_elem(&agent_socks, &cookie);
	if (!o)
		return 1;
	struct skb_req q = { .cookie = cookie, .tgid = o->tgid, .direction = ingress ? CONTENT_INGRESS : CONTENT_EGRESS };
	__u32 l3, proto;
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;
		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof ip))
			return 1;
		if (ip.frag_off & bpf_htons(0x1fff)) /* a later fragment: no L4 header */
			return 1;
		l3 = ip.ihl * 4;
		proto = ip.protocol;
		q.family = AF_INET;
		__builtin_memcpy(q.daddr, ingress ? &ip.saddr : &ip.daddr, 4);
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;
		if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof ip6))
			return 1;
		l3 = sizeof ip6;
		proto = ip6.nexthdr; /* extension headers: not followed (the stack adds none to TCP/UDP by default) */
		q.family = AF_INET6;
		__builtin_memcpy(q.daddr, ingress ? &ip6.saddr : &ip6.daddr, 16);
	} else {
		return 1;
	}
	if (proto == IPPROTO_TCP) {
		struct tcphdr th;
		if (bpf_skb_load_bytes(skb, l3, &th, sizeof th))
			return 1;
		__u32 seq = bpf_ntohl(th.seq);
		__u32 *isn = ingress ? &o->peer_isn : &o->isn;
		__u8 *isn_known = ingress ? &o->peer_isn_known : &o->isn_known;
		if (th.syn) {
			*isn = seq;
			*isn_known = 1;
			seq++; /* TCP Fast Open data rides on the SYN at offset 0 */
		} else if (!*isn_known) {
			*isn = seq - 1; /* not seen from its SYN: offsets from the first segment seen */
			*isn_known = 1;
		}
		q.dport = bpf_ntohs(ingress ? th.source : th.dest);
		q.data_off = l3 + th.doff * 4;
		q.off = (__u32)(seq - *isn - 1);
	} else if (proto == IPPROTO_UDP) {
		struct udphdr uh;
		if (bpf_skb_load_bytes(skb, l3, &uh, sizeof uh))
			return 1;
		q.dport = bpf_ntohs(ingress ? uh.source : uh.dest);
		q.data_off = l3 + sizeof uh;
		q.udp = 1;
	} else {
		return 1;
	}
	if (skb->len <= q.data_off)
		return 1;
	q.n = skb->len - q.data_off;
	/* Leaving, the packet may be sent in the writer's context (below); arriving,
	 * it runs in softirq, in whatever task was interrupted: no tid, no binding. */
	__u64 id = bpf_get_current_pid_tgid();
	if (!ingress && (id >> 32) == o->tgid) {
		__u32 tid = (__u32)id;
		q.tid = tid;
		struct ssl_stash *ss = bpf_map_lookup_elem(&ssl_inflight, &tid);
		if (ss && !o->ssl) {
			o->ssl = ss->ssl;
			emit_bind(ss->ssl, &q);
		}
	}
	emit_skb(skb, &q);
	return 1;
}

SEC("cgroup_skb/egress")
int content_skb_egress(struct __sk_buff *skb)
{
	return skb_packet(skb, false);
}

/* What an agent socket receives: the model's answers on plain HTTP, for the
 * turns (user space does not DLP-scan ingress). */
SEC("cgroup_skb/ingress")
int content_skb_ingress(struct __sk_buff *skb)
{
	return skb_packet(skb, true);
}

/* --- TLS: OpenSSL's SSL_write / SSL_read (and _ex), attached by content-ctl --- */

static __always_inline int ssl_enter(__u64 ssl, __u64 buf, __u64 sizep, __u8 direction)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	if (!is_tracked(tgid))
		return 0;
	struct ssl_stash s = { .ssl = ssl, .buf = buf, .sizep = sizep, .direction = direction };
	bpf_map_update_elem(&ssl_inflight, &tid, &s, BPF_ANY);
	return 0;
}

static __always_inline int ssl_exit(long ret, bool ex)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	if (!is_tracked(tgid))
		return 0;
	struct ssl_stash *sp = bpf_map_lookup_elem(&ssl_inflight, &tid);
	if (!sp)
		return 0;
	struct ssl_stash s = *sp;
	bpf_map_delete_elem(&ssl_inflight, &tid);
	__u64 n = 0;
	if (ex) {
		if ((int)ret != 1 || !s.sizep)
			return 0;
		if (bpf_probe_read_user(&n, sizeof n, (void *)s.sizep))
			return 0;
	} else {
		if ((int)ret <= 0)
			return 0;
		n = (int)ret;
	}
	if (s.direction == CONTENT_EGRESS)
		bpf_map_update_elem(&ssl_unbound, &tid, &s.ssl, BPF_ANY);
	struct emit_req q = { .conn = s.ssl, .ubuf = s.buf, .n = n, .tgid = tgid, .tid = tid,
			      .source = CONTENT_SOURCE_TLS, .direction = s.direction };
	emit(&q);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(ssl_write_enter, void *ssl, const void *buf, int num)
{
	return ssl_enter((__u64)ssl, (__u64)buf, 0, CONTENT_EGRESS);
}

SEC("uretprobe")
int BPF_KRETPROBE(ssl_write_exit, int ret)
{
	return ssl_exit(ret, false);
}

SEC("uprobe")
int BPF_KPROBE(ssl_write_ex_enter, void *ssl, const void *buf, size_t num, size_t *written)
{
	return ssl_enter((__u64)ssl, (__u64)buf, (__u64)written, CONTENT_EGRESS);
}

SEC("uretprobe")
int BPF_KRETPROBE(ssl_write_ex_exit, int ret)
{
	return ssl_exit(ret, true);
}

SEC("uprobe")
int BPF_KPROBE(ssl_read_enter, void *ssl, void *buf, int num)
{
	return ssl_enter((__u64)ssl, (__u64)buf, 0, CONTENT_INGRESS);
}

SEC("uretprobe")
int BPF_KRETPROBE(ssl_read_exit, int ret)
{
	return ssl_exit(ret, false);
}

SEC("uprobe")
int BPF_KPROBE(ssl_read_ex_enter, void *ssl, void *buf, size_t num, size_t *readbytes)
{
	return ssl_enter((__u64)ssl, (__u64)buf, (__u64)readbytes, CONTENT_INGRESS);
}

SEC("uretprobe")
int BPF_KRETPROBE(ssl_read_ex_exit, int ret)
{
	return ssl_exit(ret, true);
}

char LICENSE[] SEC("license") = "GPL";
