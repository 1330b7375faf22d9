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
	struct pathbuf *pb;
	bool done;
	bool trunc;
};

/* One component of the walk, as a bpf_loop body. Returns 1 to stop. */
static long walk_step(__u32 i, struct walk_ctx *c)
{
	/* Locals, not c->x, inside BPF_CORE_READ: walk_ctx is not a kernel type. */
	struct dentry *dentry = c->dentry, *mnt_root, *parent;
	struct vfsmount *vfsmnt = c->vfsmnt;
	struct mount *mnt = c->mnt;
	const unsigned char *name;
	__u32 off, len;

	if (dentry == c->root_dentry && vfsmnt == c->root_mnt) {
		c->done = true;
		return 1;
	}
	mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
	parent = BPF_CORE_READ(dentry, d_parent);
	if (dentry == mnt_root || dentry == parent) {
		struct mount *mnt_parent = BPF_CORE_READ(mnt, mnt_parent);

		/* Root of a mount: continue from where it is mounted. */
		if (dentry == mnt_root && mnt != mnt_parent) {
			c->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
			c->mnt = mnt_parent;
			c->vfsmnt = &mnt_parent->mnt;
			return 0;
		}
		c->done = true; /* the global root, or a detached tree */
		return 1;
	}
	len = BPF_CORE_READ(dentry, d_name.len) & NAME_MASK;
	name = BPF_CORE_READ(dentry, d_name.name);
	off = c->pb->off;
	if (off < len + 1 || off > PATH_MAX_LEN - 1) {
		c->trunc = true;
		return 1;
	}
	off -= len + 1;
	bpf_probe_read_kernel(&c->pb->buf[(off + 1) & (PATH_MAX_LEN - 1)], len, name);
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

/* Puts the absolute path of a kernel struct path at s[off]; returns its length. */
static __always_inline __u32 put_path(struct scratch *s, __u32 off, struct vfsmount *mnt, struct dentry *dentry,
				      bool *trunc)
{
	struct pathbuf *pb = pathbuf_get();
	__u32 start;

	if (!pb || !mnt || !dentry)
		return 0;
	start = walk_path(mnt, dentry, pb, trunc) & (PATH_MAX_LEN - 1);
	return put_kernel_bytes(s, off, &pb->buf[start], PATH_MAX_LEN - 1 - start, trunc);
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

#endif /* AGENT_SENSOR_PATH_BPF_H */
