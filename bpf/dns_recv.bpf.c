// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The fallback for DNS answers: attached by the loader only when the
 * socket-level programs of dns_sock.bpf.c cannot be (they see the answers
 * of agent sockets only, without a hook on every read of every process).
 *
 * DNS responses a tracked process receives: the datagrams that come back
 * on a UDP socket talking to port 53. User space reads the answers out of
 * them so that a later connect can be attributed to the name the agent
 * asked for. glibc's resolver and c-ares call recvfrom (glibc on a socket
 * connected to the server), Go's resolver read()s a connected socket, and
 * others use recvmsg/recvmmsg.
 *
 * Only tracked processes: untracked ones (trace-all mode included) pay the
 * one `tracked` lookup at enter and at exit. The buffer is filled only
 * when the call returns, so (fd, buffer, source address pointer) are
 * stashed at sys_enter and the payload is copied at sys_exit.
 */
#include "sock.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

static __always_inline bool is_tracked(__u32 tgid, struct who *w)
{
	struct tracked_proc *tp = bpf_map_lookup_elem(&tracked, &tgid);

	if (!tp || tgid == cfg_self_tgid || !same_incarnation(tp, tgid))
		return false;
	w->agent_id = tp->agent_id;
	w->agent_pid = tp->agent_pid;
	w->flags = tp->flags;
	return true;
}

static __always_inline bool peer_is_dns(struct sock *sk)
{
	return BPF_CORE_READ(sk, __sk_common.skc_dport) == bpf_htons(DNS_PORT);
}

/*
 * Stashes a receive on a UDP socket of a tracked process. With
 * peer53_only (read), only a socket connected to port 53 qualifies: a
 * tracked process reads files and pipes far more often than DNS sockets.
 */
static __always_inline int stash_recv(struct trace_event_raw_sys_enter *ctx, __u64 uaddr, __u64 buf, __u64 len,
				      bool peer53_only)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct sock_info si = {};
	struct pending p;
	struct who w;
	int fd = ctx->args[0];

	if (!is_tracked(pid_tgid >> 32, &w))
		return 0;
	if (!fd_sock(fd, &si) || si.type != SOCK_DGRAM)
		return 0;
	if (peer53_only && !peer_is_dns(si.sk))
		return 0;
	__builtin_memset(&p, 0, sizeof(p));
	p.fd[0] = fd;
	p.ptr[0] = uaddr;
	p.ptr[1] = buf;
	p.len = len;
	p.nr = ctx->id;
	push_pending((__u32)pid_tgid, &p);
	return 0;
}

/*
 * Exit gate: the stash is popped first, whatever the result (-EAGAIN is
 * common) and whether the process is still tracked (a candidate rejected
 * while it was blocked in the call), so no entry leaks or pairs with a
 * later call. Untracked processes still pay one lookup: the pop's.
 */
static __always_inline bool recv_exit_gate(struct trace_event_raw_sys_exit *ctx, struct pending *p, struct who *w)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	if (!pop_pending((__u32)pid_tgid, ctx->id, p) || !is_tracked(pid_tgid >> 32, w))
		return false;
	return ctx->ret > 0;
}

/*
 * got bytes arrived in buf (of size len) on fd. It is a DNS response when
 * the socket is connected to port 53 or when the source address the call
 * returned (uaddr, may be 0) has port 53.
 */
static __always_inline void on_recv(int fd, __u64 uaddr, __u64 buf, __u64 len, __u64 got, const struct who *w)
{
	struct sock_info si = {};
	struct dgram_key *d;

	if (!fd_sock(fd, &si))
		return;
	d = dest_buf();
	if (!d)
		return;
	if (!read_peer(d, si.sk) || !is_dns(d, &si)) {
		d = dest_buf(); /* cleared again: a v6 peer must not leave bytes behind a v4 source */
		if (!d || !uaddr || !read_sockaddr(d, (void *)uaddr, sizeof(struct user_sockaddr_in6)) ||
		    !is_dns(d, &si))
			return;
	}
	emit_dns(d, fd, (void *)buf, got < len ? got : len, DNSF_RESPONSE, w);
}

SEC("tracepoint/syscalls/sys_enter_recvfrom")
int tp_sys_enter_recvfrom(struct trace_event_raw_sys_enter *ctx)
{
	/* recvfrom(fd, ubuf, size, flags, addr, addr_len) */
	return stash_recv(ctx, ctx->args[4], ctx->args[1], ctx->args[2], false);
}

SEC("tracepoint/syscalls/sys_exit_recvfrom")
int tp_sys_exit_recvfrom(struct trace_event_raw_sys_exit *ctx)
{
	struct pending p;
	struct who w;

	if (!recv_exit_gate(ctx, &p, &w))
		return 0;
	on_recv(p.fd[0], p.ptr[0], p.ptr[1], p.len, ctx->ret, &w);
	return 0;
}

/* The first iovec of a received msghdr: where the datagram starts. */
static __always_inline void on_msghdr_recv(int fd, struct user_msghdr64 *m, __u64 got, const struct who *w)
{
	struct user_iovec64 iov = {};

	if (!m->iov || !m->iovlen || bpf_probe_read_user(&iov, sizeof(iov), (void *)m->iov))
		return;
	on_recv(fd, m->name, iov.base, iov.len, got, w);
}

SEC("tracepoint/syscalls/sys_enter_recvmsg")
int tp_sys_enter_recvmsg(struct trace_event_raw_sys_enter *ctx)
{
	return stash_recv(ctx, 0, ctx->args[1], 0, false);
}

SEC("tracepoint/syscalls/sys_exit_recvmsg")
int tp_sys_exit_recvmsg(struct trace_event_raw_sys_exit *ctx)
{
	struct user_msghdr64 m = {};
	struct pending p;
	struct who w;

	if (!recv_exit_gate(ctx, &p, &w) || bpf_probe_read_user(&m, sizeof(m), (void *)p.ptr[1]))
		return 0;
	on_msghdr_recv(p.fd[0], &m, ctx->ret, &w);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_recvmmsg")
int tp_sys_enter_recvmmsg(struct trace_event_raw_sys_enter *ctx)
{
	return stash_recv(ctx, 0, ctx->args[1], ctx->args[2], false);
}

/* ret is the number of messages; the first one is enough (one query, one answer). */
SEC("tracepoint/syscalls/sys_exit_recvmmsg")
int tp_sys_exit_recvmmsg(struct trace_event_raw_sys_exit *ctx)
{
	struct user_mmsghdr64 mm = {};
	struct pending p;
	struct who w;

	if (!recv_exit_gate(ctx, &p, &w) || bpf_probe_read_user(&mm, sizeof(mm), (void *)p.ptr[1]))
		return 0;
	on_msghdr_recv(p.fd[0], &mm.hdr, mm.len, &w);
	return 0;
}

/* read() fires all the time: untracked processes stop at the first lookup. */
SEC("tracepoint/syscalls/sys_enter_read")
int tp_sys_enter_read(struct trace_event_raw_sys_enter *ctx)
{
	return stash_recv(ctx, 0, ctx->args[1], ctx->args[2], true);
}

SEC("tracepoint/syscalls/sys_exit_read")
int tp_sys_exit_read(struct trace_event_raw_sys_exit *ctx)
{
	struct pending p;
	struct who w;

	if (!recv_exit_gate(ctx, &p, &w))
		return 0;
	on_recv(p.fd[0], 0, p.ptr[1], p.len, ctx->ret, &w);
	return 0;
}
