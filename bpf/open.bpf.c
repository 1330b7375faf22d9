// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The open family: open, creat, openat, openat2 (Linux 5.6, commit
 * fddb5d430ad9 "open: introduce openat2(2) syscall"). Arguments are
 * stashed at sys_enter; the record is built at sys_exit, when the result
 * is known and the path's page has been faulted in by getname().
 */
#include "path.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define O_CREAT     0100
#define O_TMPFILE   020200000
#define CREAT_FLAGS 01101 /* O_CREAT | O_WRONLY | O_TRUNC, what creat() means */

/* openat2's struct open_how as user space lays it out (fixed ABI). */
struct user_open_how {
	__u64 flags;
	__u64 mode;
	__u64 resolve;
};

static __always_inline int stash_open(struct trace_event_raw_sys_enter *ctx, int dirfd, __u64 upath,
				      __u32 flags, __u32 mode, __u64 how)
{
	struct pending p;

	__builtin_memset(&p, 0, sizeof(p));
	p.ptr[0] = upath;
	p.ptr[2] = how;
	p.fd[0] = dirfd;
	p.flags = flags;
	p.mode = mode;
	p.nr = ctx->id;
	return stash_if_traced(&p);
}

static __always_inline int emit_open(struct trace_event_raw_sys_exit *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct open_event *e;
	struct scratch *s;
	struct pending p;
	__u32 agent_id, off, n;
	bool trunc = false;
	long ret = ctx->ret;

	if (!pop_pending((__u32)pid_tgid, ctx->id, &p) || !traced(pid_tgid >> 32, &agent_id))
		return 0;
	s = scratch_buf();
	if (!s)
		return 0;
	e = (struct open_event *)s->buf;
	fill_header(&e->hdr, EV_OPEN, agent_id);
	e->result = ret;
	e->flags = p.flags;
	e->mode = p.mode;
	e->dirfd = p.fd[0];
	e->syscall_nr = ctx->id;
	if (p.ptr[2]) {
		struct user_open_how how = {};

		bpf_probe_read_user(&how, sizeof(how), (void *)p.ptr[2]);
		e->flags = how.flags;
		e->mode = how.mode;
	}

	/* mode is whatever was in the register unless the open can create. */
	if (!(e->flags & (O_CREAT | O_TMPFILE)))
		e->mode = 0;

	off = offsetof(struct open_event, data);
	n = put_path_arg(s, off, (const char *)p.ptr[0], p.fd[0], &e->path_len, &e->dir_len, &trunc);
	if (e->path_len == 0 && ret >= 0) {
		/* The user string is gone; the opened file still knows its path. */
		n = put_fd_path(s, off, ret, &trunc);
		e->path_len = n;
		e->dir_len = 0;
	}
	if (trunc)
		e->hdr.flags |= EVF_TRUNCATED;
	submit(s, off + n, EV_OPEN);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_open")
int tp_sys_enter_open(struct trace_event_raw_sys_enter *ctx)
{
	return stash_open(ctx, AT_FDCWD, ctx->args[0], ctx->args[1], ctx->args[2], 0);
}

SEC("tracepoint/syscalls/sys_exit_open")
int tp_sys_exit_open(struct trace_event_raw_sys_exit *ctx)
{
	return emit_open(ctx);
}

SEC("tracepoint/syscalls/sys_enter_creat")
int tp_sys_enter_creat(struct trace_event_raw_sys_enter *ctx)
{
	return stash_open(ctx, AT_FDCWD, ctx->args[0], CREAT_FLAGS, ctx->args[1], 0);
}

SEC("tracepoint/syscalls/sys_exit_creat")
int tp_sys_exit_creat(struct trace_event_raw_sys_exit *ctx)
{
	return emit_open(ctx);
}

SEC("tracepoint/syscalls/sys_enter_openat")
int tp_sys_enter_openat(struct trace_event_raw_sys_enter *ctx)
{
	return stash_open(ctx, ctx->args[0], ctx->args[1], ctx->args[2], ctx->args[3], 0);
}

SEC("tracepoint/syscalls/sys_exit_openat")
int tp_sys_exit_openat(struct trace_event_raw_sys_exit *ctx)
{
	return emit_open(ctx);
}

/* flags and mode live in the struct open_how at args[2], read at exit. */
SEC("tracepoint/syscalls/sys_enter_openat2")
int tp_sys_enter_openat2(struct trace_event_raw_sys_enter *ctx)
{
	return stash_open(ctx, ctx->args[0], ctx->args[1], 0, 0, ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int tp_sys_exit_openat2(struct trace_event_raw_sys_exit *ctx)
{
	return emit_open(ctx);
}
