// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The open family: open, creat, openat, openat2 (Linux 5.6, commit
 * fddb5d430ad9 "open: introduce openat2(2) syscall"). The record is built
 * at sys_exit, when the result is known. A successful open carries the
 * path of the file the kernel opened, taken from the returned fd: that is
 * what was opened, whatever the caller's buffer says by then.
 *
 * By default only the exit is hooked: the arguments come from the
 * thread's saved user registers (the syscall took them from there and
 * they are restored unchanged on return) and the path string is read then
 * (EVF_PATH_LATE). Every process of the machine pays for each program on
 * the open path, and the entry program was half of that cost. With
 * cfg_open_entry (`--watch-open-races`) the entry is hooked as well: the
 * caller's string is read before the kernel uses it, so a buffer another
 * thread rewrote while the call blocked is flagged (EVF_ARG_CHANGED).
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

/*
 * The open family's arguments from sys_enter to sys_exit, per thread, in
 * task storage rather than the shared `pending` hash: the hash costs an
 * update at every entry and a delete at every exit (~250 ns of a traced
 * open together), where this value is created once per thread, rewritten
 * in place, and freed with the task. An untracked thread's exit finds no
 * storage at once, cheaper than a hash miss. nr = 0: nothing pending.
 */
struct open_pending {
	struct pending args;
	struct who who;     /* as sys_enter found it: the exit need not look again */
	__u64 switches;     /* the thread's context switches at entry */
	struct argstr path; /* the caller's path string at entry */
};

/* Context switches of the current thread so far: a call that slept (a FIFO
 * open) is one whose count moved. (The run queue's count, on a hotter line,
 * needs the address of a per-CPU kernel symbol, which this kernel's
 * kallsyms does not give.) */
static __always_inline __u64 switches_now(void)
{
	struct task_struct *task = bpf_get_current_task_btf();

	return task->nvcsw + task->nivcsw;
}

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct open_pending);
} open_args SEC(".maps");

/* The loader loads the sys_enter programs only when this is set. */
const volatile __u32 cfg_open_entry = 0;

enum open_call { CALL_OPEN, CALL_CREAT, CALL_OPENAT, CALL_OPENAT2 };

static __always_inline int stash_open(struct trace_event_raw_sys_enter *ctx, int dirfd, __u64 upath,
				      __u32 flags, __u32 mode, __u64 how)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct open_pending *op;
	struct task_struct *task = bpf_get_current_task_btf();
	struct tracked_proc *tp;
	struct pending *p;
	struct who w;

	if (!traced_lookup(pid_tgid >> 32, &tp))
		return 0;
	/* A thread that traced an open before remembers its process's start. */
	op = task->bpf_storage ? bpf_task_storage_get(&open_args, task, 0, 0) : NULL;
	if (!traced_check(pid_tgid >> 32, tp, &w, op ? op->who.start : 0))
		return 0;
	if (!op)
		op = bpf_task_storage_get(&open_args, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!op) { /* no memory: this open goes unreported, and counted */
		count(COUNTER_PENDING_FULL);
		return 0;
	}
	op->who = w;
	op->switches = switches_now();
	p = &op->args;
	p->ptr[0] = upath;
	p->fd[0] = dirfd;
	p->flags = flags;
	p->mode = mode;
	if (how) {
		struct user_open_how h = {};

		if (!bpf_probe_read_user(&h, sizeof(h), (void *)how)) {
			p->flags = h.flags;
			p->mode = h.mode;
		}
	}
	p->nr = ctx->id;
	stash_path_into(&op->path, (const char *)upath);
	return 0;
}

/*
 * The arguments this thread's sys_enter left for this syscall, consumed.
 * A thread that never had task storage (every thread of an untracked
 * process, the common case) costs one load, cheaper than a lookup.
 */
static __always_inline struct open_pending *pop_open_args(long nr)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct open_pending *op;

	if (!task->bpf_storage)
		return NULL;
	op = bpf_task_storage_get(&open_args, task, 0, 0);
	if (!op || op->args.nr != (__u32)nr)
		return NULL;
	op->args.nr = 0;
	return op;
}

/*
 * What the kernel opened, from the returned fd: its inode's identity (into
 * the record's `opened`) and its path, symlinks and '..' resolved as it did. Usually that is the caller's absolute path itself (an agent
 * loading its modules): then the record says so (EVF_KPATH_SAME) instead
 * of carrying the path twice. Returns bytes put at off + n.
 */
static __always_inline __u32 put_opened_path(struct scratch *s, __u32 off, __u32 path_len, __u32 n, int fd,
					     __u16 *hflags, bool *trunc)
{
	struct pathbuf *pb = pathbuf_get();
	int r = walk_opened_file(fd);
	__u32 start, len;

	if (r < 0 || !pb)
		return 0;
	start = r & (PATH_MAX_LEN - 1);
	len = PATH_MAX_LEN - 1 - start;
	if (r & PUT_TRUNC)
		*trunc = true;
	else if (!*trunc && n == path_len && len == path_len &&
		 !bytes_differ(&pb->buf[start], &s->buf[off & SCRATCH_PIECE_MASK], len)) {
		*hflags |= EVF_KPATH_SAME;
		return 0;
	}
	return put_kernel_bytes(s, off + n, &pb->buf[start], len, trunc);
}

/*
 * The call's arguments from the registers user space passed them in, as
 * saved at syscall entry. x86-64: di, si, dx, r10 (the syscall ABI's
 * fourth register is r10, not the C ABI's cx).
 */
static __always_inline void open_args_from_regs(enum open_call call, struct pending *p)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	__u64 a0, a1, a2, a3;

#if defined(__TARGET_ARCH_x86)
	a0 = regs->di;
	a1 = regs->si;
	a2 = regs->dx;
	a3 = regs->r10;
#else
	a0 = PT_REGS_PARM1_CORE_SYSCALL(regs);
	a1 = PT_REGS_PARM2_CORE_SYSCALL(regs);
	a2 = PT_REGS_PARM3_CORE_SYSCALL(regs);
	a3 = PT_REGS_PARM4_CORE_SYSCALL(regs);
#endif
	p->fd[0] = AT_FDCWD;
	if (call == CALL_OPEN || call == CALL_CREAT) {
		p->ptr[0] = a0;
		p->flags = call == CALL_CREAT ? CREAT_FLAGS : a1;
		p->mode = call == CALL_CREAT ? a1 : a2;
		return;
	}
	p->fd[0] = (int)a0;
	p->ptr[0] = a1;
	p->flags = a2;
	p->mode = a3;
	if (call == CALL_OPENAT2) {
		struct user_open_how h = {};

		p->flags = 0;
		p->mode = 0;
		if (!bpf_probe_read_user(&h, sizeof(h), (void *)a2)) {
			p->flags = h.flags;
			p->mode = h.mode;
		}
	}
}

static __always_inline int emit_open(struct trace_event_raw_sys_exit *ctx, enum open_call call)
{
	struct open_pending *op = NULL;
	struct pending late = {};
	struct pending *p;
	struct argstr *a = NULL;
	struct open_event *e;
	struct scratch *s;
	struct tracked_proc *tp;
	struct who w;
	__u32 off, n;
	bool trunc = false;
	__u32 aflags = 0;
	long ret = ctx->ret, len;

	if (cfg_open_entry) {
		op = pop_open_args(ctx->id);
		if (!op)
			return 0;
		/* Used in place: the storage is this thread's, and its next
		 * sys_enter comes after this exit. */
		p = &op->args;
		a = &op->path;
		aflags = a->flags;
		a->flags = 0;
		w = op->who;
	} else {
		__u32 tgid = bpf_get_current_pid_tgid() >> 32;

		if (!traced_lookup(tgid, &tp) || !traced_check(tgid, tp, &w, 0))
			return 0;
		p = &late;
	}
	if (restarting(ret))
		return 0;
	if (!op)
		open_args_from_regs(call, p);
	s = scratch_buf();
	if (!s)
		return 0;
	e = (struct open_event *)s->buf;
	fill_header(&e->hdr, EV_OPEN, &w);
	e->result = ret;
	e->flags = p->flags;
	e->mode = p->mode;
	e->dirfd = p->fd[0];
	e->syscall_nr = ctx->id;
	e->kpath_len = 0;
	__builtin_memset(&e->opened, 0, sizeof(e->opened));

	/* mode is whatever was in the register unless the open can create. */
	if (!(e->flags & (O_CREAT | O_TMPFILE)))
		e->mode = 0;

	off = offsetof(struct open_event, data);
	len = put_entry_path(s, off, (const char *)p->ptr[0], a, aflags, &e->hdr.flags, &trunc);
	if (len < 0)
		len = 0;
	e->path_len = len;
	e->dir_len = 0;
	if (len > 0 && byte_at(s, off) != '/')
		e->dir_len = put_dir_of(s, off + len, p->fd[0], &trunc);
	n = len + e->dir_len;
	if (ret >= 0) {
		e->kpath_len = put_opened_path(s, off, len, n, ret, &e->hdr.flags, &trunc);
		n += e->kpath_len;
	}
	/*
	 * Did another thread rewrite the caller's buffer during the call? The
	 * record holds the string from entry (what the kernel read) either
	 * way; the flag is evidence of the attempt. Looked at where a rewrite
	 * can have mattered: a failed open, a file that is not the string, or
	 * a call that slept (the window to rewrite in). An open that returned
	 * at once with exactly the string's file skips the read (~120 ns).
	 */
	if (op && (aflags & ARGSTR_VALID) &&
	    (ret < 0 || !(e->hdr.flags & EVF_KPATH_SAME) || switches_now() != op->switches) &&
	    path_changed((const char *)p->ptr[0], a, aflags))
		e->hdr.flags |= EVF_ARG_CHANGED;
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
	return emit_open(ctx, CALL_OPEN);
}

SEC("tracepoint/syscalls/sys_enter_creat")
int tp_sys_enter_creat(struct trace_event_raw_sys_enter *ctx)
{
	return stash_open(ctx, AT_FDCWD, ctx->args[0], CREAT_FLAGS, ctx->args[1], 0);
}

SEC("tracepoint/syscalls/sys_exit_creat")
int tp_sys_exit_creat(struct trace_event_raw_sys_exit *ctx)
{
	return emit_open(ctx, CALL_CREAT);
}

SEC("tracepoint/syscalls/sys_enter_openat")
int tp_sys_enter_openat(struct trace_event_raw_sys_enter *ctx)
{
	return stash_open(ctx, ctx->args[0], ctx->args[1], ctx->args[2], ctx->args[3], 0);
}

SEC("tracepoint/syscalls/sys_exit_openat")
int tp_sys_exit_openat(struct trace_event_raw_sys_exit *ctx)
{
	return emit_open(ctx, CALL_OPENAT);
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
	return emit_open(ctx, CALL_OPENAT2);
}
