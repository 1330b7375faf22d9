// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Network destinations: connect(), the first send of each (socket,
 * destination) pair on datagram sockets, and (when the socket level of
 * dns_sock.bpf.c is not attached) DNS queries (sends to port 53) of tracked
 * processes; their responses are in dns_recv.bpf.c.
 * Arguments are stashed at sys_enter and read at sys_exit, when the
 * result is known.
 */
#include "sock.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define EINPROGRESS 115
#define MMSG_MAX 4 /* messages of one sendmmsg looked at (glibc sends 2: A, AAAA) */

static __always_inline int stash_sock(struct trace_event_raw_sys_enter *ctx, int fd, __u64 addr, __u64 addrlen,
				      __u64 buf, __u64 len)
{
	struct pending p;

	__builtin_memset(&p, 0, sizeof(p));
	p.fd[0] = fd;
	p.ptr[0] = addr;
	p.ptr[1] = buf;
	p.len = len;
	p.mode = addrlen;
	p.nr = ctx->id;
	return stash_if_traced(&p);
}

SEC("tracepoint/syscalls/sys_enter_connect")
int tp_sys_enter_connect(struct trace_event_raw_sys_enter *ctx)
{
	return stash_sock(ctx, ctx->args[0], ctx->args[1], ctx->args[2], 0, 0);
}

SEC("tracepoint/syscalls/sys_exit_connect")
int tp_sys_exit_connect(struct trace_event_raw_sys_exit *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct sock_info si = {};
	struct dgram_key *d;
	struct pending p;
	struct who w;

	if (!pop_pending((__u32)pid_tgid, ctx->id, &p) || restarting(ctx->ret) || !traced(pid_tgid >> 32, &w))
		return 0;
	d = dest_buf();
	if (!d)
		return 0;
	/* The destination the kernel connected to, from the socket, when it has
	 * one; the caller's sockaddr (which another thread may have rewritten
	 * meanwhile) only for failed connects and unix sockets. */
	if (!fd_sock(p.fd[0], &si) || (ctx->ret != 0 && ctx->ret != -EINPROGRESS) || !read_peer(d, si.sk)) {
		d = dest_buf();
		if (!d)
			return 0;
		read_sockaddr(d, (void *)p.ptr[0], p.mode);
	}
	emit_connect(d, p.fd[0], ctx->ret, 0, &si, &w);
	return 0;
}

/*
 * One message sent: report a new datagram destination once, and a DNS
 * query when it goes to port 53 (given, or the connected peer's).
 */
static __always_inline void on_send(int fd, __u64 uaddr, __u32 addrlen, __u64 buf, __u64 len, long ret,
				    __u32 tgid, const struct who *w, bool want_dns)
{
	struct sock_info si = {};
	struct dgram_key *d;
	__u8 one = 1;

	if (!fd_sock(fd, &si) || (si.type != SOCK_DGRAM && si.type != SOCK_RAW))
		return;
	d = dest_buf();
	if (!d)
		return;
	if (uaddr) {
		/* netlink and packet sockets talk to the kernel, not to a peer */
		if (!read_sockaddr(d, (void *)uaddr, addrlen) ||
		    (d->family != AF_INET && d->family != AF_INET6 && d->family != AF_UNIX))
			return;
		d->tgid = tgid;
		d->fd = fd;
		/* Marked only once its record is out and the send went through: a
		 * lost record or a failed send leaves the next send to report it. */
		if (!bpf_map_lookup_elem(&dgram_seen, d) &&
		    emit_connect(d, fd, ret < 0 ? ret : 0, CONNF_DATAGRAM, &si, w) && ret >= 0)
			bpf_map_update_elem(&dgram_seen, d, &one, BPF_ANY);
	} else if (!read_peer(d, si.sk)) {
		return;
	}
	if (want_dns && is_dns(d, &si) && !dns_taken_at_socket())
		emit_dns(d, fd, (void *)buf, len, 0, w);
}

/* The tracked-or-trace_all gate of a send's exit; *tracked: DNS wanted. */
static __always_inline bool send_exit_gate(struct trace_event_raw_sys_exit *ctx, struct pending *p, struct who *w,
					   bool *is_tracked)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;

	if (!pop_pending((__u32)pid_tgid, ctx->id, p) || restarting(ctx->ret) || !traced(tgid, w))
		return false;
	*is_tracked = bpf_map_lookup_elem(&tracked, &tgid) != NULL;
	return true;
}

SEC("tracepoint/syscalls/sys_enter_sendto")
int tp_sys_enter_sendto(struct trace_event_raw_sys_enter *ctx)
{
	return stash_sock(ctx, ctx->args[0], ctx->args[4], ctx->args[5], ctx->args[1], ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_exit_sendto")
int tp_sys_exit_sendto(struct trace_event_raw_sys_exit *ctx)
{
	struct pending p;
	struct who w;
	bool is_tracked;

	if (!send_exit_gate(ctx, &p, &w, &is_tracked))
		return 0;
	on_send(p.fd[0], p.ptr[0], p.mode, p.ptr[1], p.len, ctx->ret, bpf_get_current_pid_tgid() >> 32, &w,
		is_tracked);
	return 0;
}

/* A msghdr's destination and first iovec. */
static __always_inline void on_msghdr(struct user_msghdr64 *m, int fd, long ret, const struct who *w, bool is_tracked)
{
	struct user_iovec64 iov = {};

	if (m->iov && m->iovlen)
		bpf_probe_read_user(&iov, sizeof(iov), (void *)m->iov);
	on_send(fd, m->name, m->namelen, iov.base, iov.len, ret, bpf_get_current_pid_tgid() >> 32, w,
		is_tracked);
}

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int tp_sys_enter_sendmsg(struct trace_event_raw_sys_enter *ctx)
{
	return stash_sock(ctx, ctx->args[0], 0, 0, ctx->args[1], 0);
}

SEC("tracepoint/syscalls/sys_exit_sendmsg")
int tp_sys_exit_sendmsg(struct trace_event_raw_sys_exit *ctx)
{
	struct user_msghdr64 m = {};
	struct pending p;
	struct who w;
	bool is_tracked;

	if (!send_exit_gate(ctx, &p, &w, &is_tracked))
		return 0;
	if (bpf_probe_read_user(&m, sizeof(m), (void *)p.ptr[1]))
		return 0;
	on_msghdr(&m, p.fd[0], ctx->ret, &w, is_tracked);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_sendmmsg")
int tp_sys_enter_sendmmsg(struct trace_event_raw_sys_enter *ctx)
{
	return stash_sock(ctx, ctx->args[0], 0, 0, ctx->args[1], ctx->args[2]);
}

/* ret is the number of messages sent; look at those (at most MMSG_MAX). */
SEC("tracepoint/syscalls/sys_exit_sendmmsg")
int tp_sys_exit_sendmmsg(struct trace_event_raw_sys_exit *ctx)
{
	struct user_mmsghdr64 mm;
	struct pending p;
	struct who w;
	__u32 n;
	bool is_tracked;
	long ret = ctx->ret;

	if (!send_exit_gate(ctx, &p, &w, &is_tracked))
		return 0;
	n = ret > 0 ? ret : 1;
	if (n > p.len)
		n = p.len;
	for (__u32 i = 0; i < MMSG_MAX; i++) {
		if (i >= n)
			break;
		if (bpf_probe_read_user(&mm, sizeof(mm), (void *)(p.ptr[1] + i * sizeof(mm))))
			break;
		on_msghdr(&mm.hdr, p.fd[0], ret < 0 ? ret : 0, &w, is_tracked);
	}
	return 0;
}

/*
 * glibc's resolver connect()s a UDP socket to the nameserver and may then
 * write() the query. Only tracked processes get past the first lookup;
 * this runs on every write() in the system, so it is the fallback: the
 * loader attaches it only when dns_sock.bpf.c's programs cannot be.
 */
SEC("tracepoint/syscalls/sys_enter_write")
int tp_sys_enter_write(struct trace_event_raw_sys_enter *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct tracked_proc *tp = bpf_map_lookup_elem(&tracked, &tgid);
	struct sock_info si = {};
	struct dgram_key *d;
	struct who w;
	int fd;

	if (!tp || !same_incarnation(tp, tgid))
		return 0;
	w.agent_id = tp->agent_id;
	w.agent_pid = tp->agent_pid;
	w.flags = tp->flags;
	fd = ctx->args[0];
	if (!fd_sock(fd, &si) || si.type != SOCK_DGRAM)
		return 0;
	d = dest_buf();
	if (!d || !read_peer(d, si.sk) || !is_dns(d, &si))
		return 0;
	emit_dns(d, fd, (void *)ctx->args[1], ctx->args[2], 0, &w);
	return 0;
}
