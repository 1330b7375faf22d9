// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The open family: open, creat, openat, openat2 (Linux 5.6, commit
 * fddb5d430ad9 "open: introduce openat2(2) syscall"). Arguments are read
 * at sys_enter, before the kernel uses them: the path string (kept in
 * `argstr`) and openat2's struct open_how. The record is built at
 * sys_exit, when the result is known. A successful open also carries the
 * path of the file the kernel opened, taken from the returned fd: that is
 * what was opened, whatever the caller's buffer says by then.
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

/* The caller's path at entry into `argstr`, built in the scratch buffer
 * (free at sys_enter: records are built at exit). Absent when the page
 * was not present: the exit reads it then. */
static __always_inline void stash_path_str(__u32 tid, const char *upath)
{
	struct scratch *s = scratch_buf();
	struct argstr *a;
	bool trunc = false;
	long n;

	if (!s)
		return;
	a = (struct argstr *)s->buf;
	n = put_user_str(s, 0, upath, &trunc);
	if (n < 0)
		return;
	a->len = n;
	a->trunc = trunc;
	bpf_map_update_elem(&argstr, &tid, a, BPF_ANY);
}

static __always_inline int stash_open(struct trace_event_raw_sys_enter *ctx, int dirfd, __u64 upath,
				      __u32 flags, __u32 mode, __u64 how)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct pending p;
	struct who w;

	if (!traced(pid_tgid >> 32, &w))
		return 0;
	__builtin_memset(&p, 0, sizeof(p));
	p.ptr[0] = upath;
	p.fd[0] = dirfd;
	p.flags = flags;
	p.mode = mode;
	p.nr = ctx->id;
	if (how) {
		struct user_open_how h = {};

		if (!bpf_probe_read_user(&h, sizeof(h), (void *)how)) {
			p.flags = h.flags;
			p.mode = h.mode;
		}
	}
	push_pending((__u32)pid_tgid, &p);
	stash_path_str((__u32)pid_tgid, (const char *)upath);
	return 0;
}

struct cmp_ctx {
	const __u8 *a;
	const __u8 *b;
	__u32 words;
	__u32 tail;     /* bytes used in the last word, 0 = all 8 */
	bool differ;
};

static long cmp_word(__u32 i, struct cmp_ctx *c)
{
	__u64 x, y;

	if (i >= c->words)
		return 1;
	x = *(const __u64 *)(c->a + ((i * 8) & (PATH_MAX_LEN - 8)));
	y = *(const __u64 *)(c->b + ((i * 8) & (PATH_MAX_LEN - 8)));
	if (i == c->words - 1 && c->tail) { /* little-endian: the low bytes come first */
		x &= (1ULL << (c->tail * 8)) - 1;
		y &= (1ULL << (c->tail * 8)) - 1;
	}
	if (x != y) {
		c->differ = true;
		return 1;
	}
	return 0;
}

/*
 * Does the caller's buffer still hold what it held at entry? Reads it again
 * into the per-CPU pathbuf and compares len bytes, a word at a time.
 */
static __always_inline bool path_changed(const char *upath, struct argstr *at_entry)
{
	struct pathbuf *pb = pathbuf_get();
	struct cmp_ctx c = {};
	long n;

	if (!pb)
		return false;
	n = bpf_probe_read_user_str(pb->buf, PATH_MAX_LEN, upath);
	if (n <= 0 || (__u32)(n - 1) != at_entry->len)
		return n > 0;
	c.a = pb->buf;
	c.b = at_entry->buf;
	c.words = (at_entry->len + 7) / 8;
	c.tail = at_entry->len % 8;
	bpf_loop(PATH_MAX_LEN / 8, cmp_word, &c, 0);
	return c.differ;
}

/* The caller's path string from entry, or read now (EVF_PATH_LATE). */
static __always_inline long put_caller_path(struct scratch *s, __u32 off, const char *upath, struct argstr *a,
					    __u16 *hflags, bool *trunc)
{
	long n;

	if (!a) {
		*hflags |= EVF_PATH_LATE;
		return put_user_str(s, off, upath, trunc);
	}
	n = a->len;
	if (a->trunc)
		*trunc = true;
	if (path_changed(upath, a))
		*hflags |= EVF_ARG_CHANGED;
	return put_kernel_bytes(s, off, a->buf, n, trunc);
}

static __always_inline int emit_open(struct trace_event_raw_sys_exit *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	struct argstr *a;
	struct open_event *e;
	struct scratch *s;
	struct pending p;
	struct who w;
	__u32 off, n;
	bool trunc = false;
	long ret = ctx->ret, len;

	if (!pop_pending(tid, ctx->id, &p))
		return 0;
	a = bpf_map_lookup_elem(&argstr, &tid);
	if (restarting(ret) || !traced(pid_tgid >> 32, &w))
		goto out;
	s = scratch_buf();
	if (!s)
		goto out;
	e = (struct open_event *)s->buf;
	fill_header(&e->hdr, EV_OPEN, &w);
	e->result = ret;
	e->flags = p.flags;
	e->mode = p.mode;
	e->dirfd = p.fd[0];
	e->syscall_nr = ctx->id;
	e->kpath_len = 0;

	/* mode is whatever was in the register unless the open can create. */
	if (!(e->flags & (O_CREAT | O_TMPFILE)))
		e->mode = 0;

	off = offsetof(struct open_event, data);
	len = put_caller_path(s, off, (const char *)p.ptr[0], a, &e->hdr.flags, &trunc);
	if (len < 0)
		len = 0;
	e->path_len = len;
	e->dir_len = 0;
	if (len > 0 && byte_at(s, off) != '/')
		e->dir_len = put_dir_of(s, off + len, p.fd[0], &trunc);
	n = len + e->dir_len;
	if (ret >= 0) {
		/* what the kernel opened: symlinks and '..' resolved as it did */
		e->kpath_len = put_fd_path(s, off + n, ret, &trunc);
		n += e->kpath_len;
	}
	if (trunc)
		e->hdr.flags |= EVF_TRUNCATED;
	submit(s, off + n, EV_OPEN);
out:
	if (a)
		bpf_map_delete_elem(&argstr, &tid);
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

/* flags and mode live in the struct open_how at args[2], read at entry. */
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
