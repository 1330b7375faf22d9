/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Absolute paths of kernel (vfsmount, dentry) pairs, for the directory a
 * relative path is resolved against. bpf_d_path is not allowed from
 * tracepoints, so we walk dentries up like d_path() does: component by
 * component, written backwards, crossing mount points through struct
 * mount, stopping at the task's root (so a chrooted or containerised
 * process sees its own view). Same approach as tracee's get_path_str and
 * tetragon's prepend_path.
 */
#ifndef AGENT_SENSOR_PATH_BPF_H
#define AGENT_SENSOR_PATH_BPF_H

#include "record.bpf.h"

/* Steps of the walk: it is bounded by bytes (a component takes at least 2
 * of the PATH_MAX_LEN), plus room for the mount crossings, which take none. */
#define WALK_MAX_STEPS (PATH_MAX_LEN / 2 + 64)
#define NAME_MASK     255    /* a component is at most NAME_MAX bytes */

/* container_of with the offset relocated against the running kernel. */
static __always_inline struct mount *real_mount(struct vfsmount *vfsmnt)
{
	return (struct mount *)((void *)vfsmnt - bpf_core_field_offset(struct mount, mnt));
}

/* The struct file behind fd in the current task, or NULL. */
static __always_inline struct file *fd_file(struct task_struct *task, int fd)
{
	struct fdtable *fdt;
	struct file **fds;
	struct file *f = NULL;

	if (fd < 0)
		return NULL;
	fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]))
		return NULL;
	return f;
}

struct walk_ctx {
	struct vfsmount *vfsmnt;
	struct dentry *dentry;
	struct mount *mnt;
	struct dentry *root_dentry;
	struct vfsmount *root_mnt;
	struct dentry *mnt_root;   /* vfsmnt->mnt_root, read once per mount */
	struct pathbuf *pb;
	bool done;
	bool trunc;
};

/* One component of the walk, as a bpf_loop body. Returns 1 to stop. */
static long walk_step(__u32 i, struct walk_ctx *c)
{
	/* Locals, not c->x, inside BPF_CORE_READ: walk_ctx is not a kernel type. */
	struct dentry *dentry = c->dentry, *mnt_root = c->mnt_root, *parent;
	struct vfsmount *vfsmnt = c->vfsmnt;
	struct mount *mnt = c->mnt;
	struct qstr d_name = {};
	__u32 off, len;

	if (dentry == c->root_dentry && vfsmnt == c->root_mnt) {
		c->done = true;
		return 1;
	}
	parent = BPF_CORE_READ(dentry, d_parent);
	if (dentry == mnt_root || dentry == parent) {
		struct mount *mnt_parent = BPF_CORE_READ(mnt, mnt_parent);

		/* Root of a mount: continue from where it is mounted. */
		if (dentry == mnt_root && mnt != mnt_parent) {
			c->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
			c->mnt = mnt_parent;
			c->vfsmnt = &mnt_parent->mnt;
			c->mnt_root = BPF_CORE_READ(mnt_parent, mnt.mnt_root);
			return 0;
		}
		c->done = true; /* the global root, or a detached tree */
		return 1;
	}
	/* len and name in one read: each helper call is what a step costs */
	BPF_CORE_READ_INTO(&d_name, dentry, d_name);
	len = d_name.len & NAME_MASK;
	off = c->pb->off;
	if (off < len + 1 || off > PATH_MAX_LEN - 1) {
		c->trunc = true;
		return 1;
	}
	off -= len + 1;
	bpf_probe_read_kernel(&c->pb->buf[(off + 1) & (PATH_MAX_LEN - 1)], len, d_name.name);
	c->pb->buf[off & (PATH_MAX_LEN - 1)] = '/';
	c->pb->off = off;
	c->dentry = parent;
	return 0;
}

/*
 * Writes the absolute path of (vfsmnt, dentry) into pb, ending at
 * PATH_MAX_LEN - 1. Returns the offset where it starts; its length is
 * PATH_MAX_LEN - 1 - start. When the walk did not reach the root (the path
 * is longer than PATH_MAX_LEN) it sets *trunc and the result is the tail
 * without its leading '/': it must not pass for an absolute path.
 */
static __always_inline __u32 walk_path(struct vfsmount *vfsmnt, struct dentry *dentry, struct pathbuf *pb,
				       bool *trunc)
{
	struct fs_struct *fs = BPF_CORE_READ(current_task(), fs);
	struct walk_ctx c = {
		.vfsmnt = vfsmnt,
		.dentry = dentry,
		.mnt = real_mount(vfsmnt),
		.root_dentry = BPF_CORE_READ(fs, root.dentry),
		.root_mnt = BPF_CORE_READ(fs, root.mnt),
		.mnt_root = BPF_CORE_READ(vfsmnt, mnt_root),
		.pb = pb,
	};
	__u32 off;

	pb->off = PATH_MAX_LEN - 1;
	bpf_loop(WALK_MAX_STEPS, walk_step, &c, 0);
	off = pb->off;
	if (!c.done || c.trunc) {
		*trunc = true;
		if (off < PATH_MAX_LEN - 1)
			off++; /* drop the leading '/' */
		return off;
	}
	if (off == PATH_MAX_LEN - 1) { /* no component: the root itself */
		off--;
		pb->buf[off] = '/';
	}
	return off;
}

static __always_inline struct pathbuf *pathbuf_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&pathbuf, &zero);
}

#define PUT_TRUNC (1 << 16)

/*
 * Puts the absolute path of a kernel struct path at the per-CPU scratch's
 * off; returns its length | PUT_TRUNC when cut. A global function, not
 * inlined: the verifier checks it once per program instead of at every
 * call site, which halves the sensor's load time. (It looks the per-CPU
 * buffers up itself: a global function takes scalars.) __weak: every
 * object that includes this keeps one copy when they are linked.
 */
__weak __noinline int put_path_at(__u32 off, __u64 mnt, __u64 dentry)
{
	struct scratch *s = scratch_buf();
	struct pathbuf *pb = pathbuf_get();
	bool trunc = false;
	__u32 start, n;

	if (!s || !pb || !mnt || !dentry)
		return 0;
	start = walk_path((struct vfsmount *)mnt, (struct dentry *)dentry, pb, &trunc) & (PATH_MAX_LEN - 1);
	n = put_kernel_bytes(s, off, &pb->buf[start], PATH_MAX_LEN - 1 - start, &trunc);
	return n | (trunc ? PUT_TRUNC : 0);
}

static __always_inline __u32 put_path(struct scratch *s, __u32 off, struct vfsmount *mnt, struct dentry *dentry,
				      bool *trunc)
{
	int r = put_path_at(off, (__u64)mnt, (__u64)dentry);

	if (r & PUT_TRUNC)
		*trunc = true;
	return r & (PATH_MAX_LEN - 1);
}

/* The directory a relative path is resolved against: cwd or dirfd's file. */
static __always_inline __u32 put_dir_of(struct scratch *s, __u32 off, int dirfd, bool *trunc)
{
	struct task_struct *task = current_task();

	if (dirfd == AT_FDCWD) {
		struct fs_struct *fs = BPF_CORE_READ(task, fs);

		return put_path(s, off, BPF_CORE_READ(fs, pwd.mnt), BPF_CORE_READ(fs, pwd.dentry), trunc);
	}
	struct file *f = fd_file(task, dirfd);

	if (!f)
		return 0;
	return put_path(s, off, BPF_CORE_READ(f, f_path.mnt), BPF_CORE_READ(f, f_path.dentry), trunc);
}

/* The path of the file open at fd (for an open whose user path vanished). */
static __always_inline __u32 put_fd_path(struct scratch *s, __u32 off, int fd, bool *trunc)
{
	struct file *f = fd_file(current_task(), fd);

	if (!f)
		return 0;
	return put_path(s, off, BPF_CORE_READ(f, f_path.mnt), BPF_CORE_READ(f, f_path.dentry), trunc);
}

/*
 * A path argument of a file syscall: the user string read at exit (the
 * kernel has faulted its page in by then), and when it is relative, the
 * absolute directory it was resolved against. Returns bytes put; sets
 * *path_len and *dir_len.
 */
static __always_inline __u32 put_path_arg(struct scratch *s, __u32 off, const char *upath, int dirfd,
					  __u16 *path_len, __u16 *dir_len, bool *trunc)
{
	long n = put_user_str(s, off, upath, trunc);
	__u32 d = 0;

	if (n < 0)
		n = 0;
	*path_len = n;
	if (n > 0 && byte_at(s, off) != '/')
		d = put_dir_of(s, off + n, dirfd, trunc);
	*dir_len = d;
	return n + d;
}

/*
 * Path arguments read at sys_enter, before the kernel uses them (another
 * thread may rewrite the buffer while the call blocks), kept per thread in
 * `argstr` for the exit that builds the record.
 */
/* The caller's path at entry into this thread's `argstr` slot (created
 * from the scratch buffer, free at sys_enter, on the thread's first call).
 * Not valid when the page was not present: the exit reads it then. */
static __always_inline void stash_path_str(__u32 tid, const char *upath)
{
	struct argstr *a = bpf_map_lookup_elem(&argstr, &tid);
	char next = 0;
	long n;

	if (!a) {
		struct scratch *s = scratch_buf();

		if (!s)
			return;
		((struct argstr *)s->buf)->flags = 0;
		bpf_map_update_elem(&argstr, &tid, s->buf, BPF_ANY);
		a = bpf_map_lookup_elem(&argstr, &tid);
		if (!a)
			return;
	}
	a->flags = 0;
	n = bpf_probe_read_user_str(a->buf, PATH_MAX_LEN, upath);
	if (n <= 0)
		return;
	a->len = n - 1;
	a->flags = ARGSTR_VALID;
	/* A full buffer is a 4095-byte string or a cut one: look one further. */
	if (n == PATH_MAX_LEN && !bpf_probe_read_user(&next, 1, upath + PATH_MAX_LEN - 1) && next)
		a->flags |= ARGSTR_TRUNC;
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
					    __u32 aflags, __u16 *hflags, bool *trunc)
{
	long n;

	if (!a || !(aflags & ARGSTR_VALID)) {
		*hflags |= EVF_PATH_LATE;
		return put_user_str(s, off, upath, trunc);
	}
	n = a->len;
	if (aflags & ARGSTR_TRUNC)
		*trunc = true;
	if (path_changed(upath, a))
		*hflags |= EVF_ARG_CHANGED;
	return put_kernel_bytes(s, off, a->buf, n, trunc);
}

/* The slot of this thread, and its ARGSTR_* flags as its sys_enter left them. */
static __always_inline struct argstr *argstr_slot(__u32 tid, __u32 *aflags)
{
	struct argstr *a = bpf_map_lookup_elem(&argstr, &tid);

	*aflags = a ? a->flags : 0;
	return a;
}

/* put_path_arg with the caller's string from entry (exit: the fallback). */
static __always_inline __u32 put_path_arg_at_entry(struct scratch *s, __u32 off, const char *upath, struct argstr *a,
						   __u32 aflags, int dirfd, __u16 *path_len, __u16 *dir_len,
						   __u16 *hflags, bool *trunc)
{
	long n = put_caller_path(s, off, upath, a, aflags, hflags, trunc);
	__u32 d = 0;

	if (n < 0)
		n = 0;
	*path_len = n;
	if (n > 0 && byte_at(s, off) != '/')
		d = put_dir_of(s, off + n, dirfd, trunc);
	*dir_len = d;
	return n + d;
}

#endif /* AGENT_SENSOR_PATH_BPF_H */
