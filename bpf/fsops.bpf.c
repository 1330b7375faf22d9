// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Namespace changes: unlink/rmdir, rename, link and symlink, every
 * variant. Same shape as open: the first path is read at sys_enter (the
 * second at sys_exit), the record is built at sys_exit, relative paths
 * come with the absolute directory they were resolved in.
 */
#include "path.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AT_REMOVEDIR 0x200

static __always_inline int stash_paths(struct trace_event_raw_sys_enter *ctx, int dirfd, __u64 path, int newdirfd,
				       __u64 newpath, __u32 flags)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct pending p;
	struct who w;

	if (!traced(pid_tgid >> 32, &w))
		return 0;
	__builtin_memset(&p, 0, sizeof(p));
	p.ptr[0] = path;
	p.ptr[1] = newpath;
	p.fd[0] = dirfd;
	p.fd[1] = newdirfd;
	p.flags = flags;
	p.nr = ctx->id;
	push_pending((__u32)pid_tgid, &p);
	stash_path_str((const char *)path);
	return 0;
}

/* The pending args of this exit, the path slot from its entry (cleared for
 * the thread's next call), and a scratch record to build in. */
static __always_inline struct scratch *begin_exit(struct trace_event_raw_sys_exit *ctx, struct pending *p,
						  struct who *w, struct argstr **a, __u32 *aflags)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	*a = NULL;
	*aflags = 0;
	if (!pop_pending((__u32)pid_tgid, ctx->id, p))
		return NULL;
	*a = argstr_slot(aflags);
	if (*a)
		(*a)->flags = 0; /* read below, before anything can fill it again */
	if (restarting(ctx->ret) || !traced(pid_tgid >> 32, w))
		return NULL;
	return scratch_buf();
}

static __always_inline int emit_unlink(struct trace_event_raw_sys_exit *ctx)
{
	struct unlink_event *e;
	struct scratch *s;
	struct pending p;
	struct argstr *a;
	struct who w;
	__u32 off, n;
	bool trunc = false;
	__u32 aflags;

	s = begin_exit(ctx, &p, &w, &a, &aflags);
	if (!s)
		return 0;
	e = (struct unlink_event *)s->buf;
	fill_header(&e->hdr, EV_UNLINK, &w);
	e->result = ctx->ret;
	e->flags = p.flags;
	e->syscall_nr = ctx->id;
	off = offsetof(struct unlink_event, data);
	n = put_path_arg_at_entry(s, off, (const char *)p.ptr[0], a, aflags, p.fd[0], &e->path_len, &e->dir_len,
				  &e->hdr.flags, &trunc);
	if (trunc)
		e->hdr.flags |= EVF_TRUNCATED;
	submit(s, off + n, EV_UNLINK);
	return 0;
}

/*
 * rename* (EV_RENAME) and link/symlink* (EV_LINK): data = path dir newpath
 * newdir. A symlink's target is text, not a path it resolves: verbatim,
 * no dir.
 */
static __always_inline int emit_rename(struct trace_event_raw_sys_exit *ctx, __u16 type)
{
	struct rename_event *e;
	struct scratch *s;
	struct pending p;
	struct argstr *a;
	struct who w;
	__u32 off;
	bool trunc = false;
	__u32 aflags;
	long n;

	s = begin_exit(ctx, &p, &w, &a, &aflags);
	if (!s)
		return 0;
	e = (struct rename_event *)s->buf;
	fill_header(&e->hdr, type, &w);
	e->result = ctx->ret;
	e->flags = p.flags;
	e->syscall_nr = ctx->id;
	e->_pad = 0;
	off = offsetof(struct rename_event, data);
	if (type == EV_LINK && (p.flags & LNKF_SYMBOLIC)) {
		n = put_caller_path(s, off, (const char *)p.ptr[0], a, aflags, &e->hdr.flags, &trunc);
		if (n < 0)
			n = 0;
		e->path_len = n;
		e->dir_len = 0;
	} else {
		n = put_path_arg_at_entry(s, off, (const char *)p.ptr[0], a, aflags, p.fd[0], &e->path_len, &e->dir_len,
					  &e->hdr.flags, &trunc);
	}
	off += n;
	off += put_path_arg(s, off, (const char *)p.ptr[1], p.fd[1], &e->newpath_len, &e->newdir_len, &trunc);
	if (trunc)
		e->hdr.flags |= EVF_TRUNCATED;
	submit(s, off, type);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_unlink")
int tp_sys_enter_unlink(struct trace_event_raw_sys_enter *ctx)
{
	return stash_paths(ctx, AT_FDCWD, ctx->args[0], 0, 0, 0);
}

SEC("tracepoint/syscalls/sys_exit_unlink")
int tp_sys_exit_unlink(struct trace_event_raw_sys_exit *ctx)
{
	return emit_unlink(ctx);
}

SEC("tracepoint/syscalls/sys_enter_unlinkat")
int tp_sys_enter_unlinkat(struct trace_event_raw_sys_enter *ctx)
{
	__u32 flags = (ctx->args[2] & AT_REMOVEDIR) ? UNLF_RMDIR : 0;

	return stash_paths(ctx, ctx->args[0], ctx->args[1], 0, 0, flags);
}

SEC("tracepoint/syscalls/sys_exit_unlinkat")
int tp_sys_exit_unlinkat(struct trace_event_raw_sys_exit *ctx)
{
	return emit_unlink(ctx);
}

SEC("tracepoint/syscalls/sys_enter_rmdir")
int tp_sys_enter_rmdir(struct trace_event_raw_sys_enter *ctx)
{
	return stash_paths(ctx, AT_FDCWD, ctx->args[0], 0, 0, UNLF_RMDIR);
}

SEC("tracepoint/syscalls/sys_exit_rmdir")
int tp_sys_exit_rmdir(struct trace_event_raw_sys_exit *ctx)
{
	return emit_unlink(ctx);
}

SEC("tracepoint/syscalls/sys_enter_rename")
int tp_sys_enter_rename(struct trace_event_raw_sys_enter *ctx)
{
	return stash_paths(ctx, AT_FDCWD, ctx->args[0], AT_FDCWD, ctx->args[1], 0);
}

SEC("tracepoint/syscalls/sys_exit_rename")
int tp_sys_exit_rename(struct trace_event_raw_sys_exit *ctx)
{
	return emit_rename(ctx, EV_RENAME);
}

SEC("tracepoint/syscalls/sys_enter_renameat")
int tp_sys_enter_renameat(struct trace_event_raw_sys_enter *ctx)
{
	return stash_paths(ctx, ctx->args[0], ctx->args[1], ctx->args[2], ctx->args[3], 0);
}

SEC("tracepoint/syscalls/sys_exit_renameat")
int tp_sys_exit_renameat(struct trace_event_raw_sys_exit *ctx)
{
	return emit_rename(ctx, EV_RENAME);
}

SEC("tracepoint/syscalls/sys_enter_renameat2")
int tp_sys_enter_renameat2(struct trace_event_raw_sys_enter *ctx)
{
	return stash_paths(ctx, ctx->args[0], ctx->args[1], ctx->args[2], ctx->args[3], ctx->args[4]);
}

SEC("tracepoint/syscalls/sys_exit_renameat2")
int tp_sys_exit_renameat2(struct trace_event_raw_sys_exit *ctx)
{
	return emit_rename(ctx, EV_RENAME);
}

SEC("tracepoint/syscalls/sys_enter_link")
int tp_sys_enter_link(struct trace_event_raw_sys_enter *ctx)
{
	return stash_paths(ctx, AT_FDCWD, ctx->args[0], AT_FDCWD, ctx->args[1], 0);
}

SEC("tracepoint/syscalls/sys_exit_link")
int tp_sys_exit_link(struct trace_event_raw_sys_exit *ctx)
{
	return emit_rename(ctx, EV_LINK);
}

SEC("tracepoint/syscalls/sys_enter_linkat")
int tp_sys_enter_linkat(struct trace_event_raw_sys_enter *ctx)
{
	return stash_paths(ctx, ctx->args[0], ctx->args[1], ctx->args[2], ctx->args[3], 0);
}

SEC("tracepoint/syscalls/sys_exit_linkat")
int tp_sys_exit_linkat(struct trace_event_raw_sys_exit *ctx)
{
	return emit_rename(ctx, EV_LINK);
}

SEC("tracepoint/syscalls/sys_enter_symlink")
int tp_sys_enter_symlink(struct trace_event_raw_sys_enter *ctx)
{
	return stash_paths(ctx, AT_FDCWD, ctx->args[0], AT_FDCWD, ctx->args[1], LNKF_SYMBOLIC);
}

SEC("tracepoint/syscalls/sys_exit_symlink")
int tp_sys_exit_symlink(struct trace_event_raw_sys_exit *ctx)
{
	return emit_rename(ctx, EV_LINK);
}

/* symlinkat(target, newdirfd, linkpath) */
SEC("tracepoint/syscalls/sys_enter_symlinkat")
int tp_sys_enter_symlinkat(struct trace_event_raw_sys_enter *ctx)
{
	return stash_paths(ctx, AT_FDCWD, ctx->args[0], ctx->args[1], ctx->args[2], LNKF_SYMBOLIC);
}

SEC("tracepoint/syscalls/sys_exit_symlinkat")
int tp_sys_exit_symlinkat(struct trace_event_raw_sys_exit *ctx)
{
	return emit_rename(ctx, EV_LINK);
}
