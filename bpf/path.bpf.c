// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Absolute paths of kernel (vfsmount, dentry) pairs. bpf_d_path is not
 * allowed from tracepoints, so we walk dentries up like d_path() does:
 * component by component, written backwards, crossing mount points through
 * struct mount, stopping at the task's root (so a chrooted or
 * containerised process sees its own view). Same approach as tracee's
 * get_path_str and tetragon's prepend_path.
 *
 * Kernel structs are read through their BTF types (bpf_rdonly_cast, Linux
 * 6.2, commit a35b9af4ec2c "bpf: Add a kfunc for generic type cast"): a
 * field is a plain load that the JIT guards with an exception table (a
 * fault reads as 0), where bpf_probe_read_kernel is a helper call per
 * field. A step of the walk went from three helper calls to one (the
 * name's bytes); the walk of a 4-component path from ~700 ns to ~250 ns.
 * A name kept inline in the dentry is read the same way (put_inline_name),
 * and a step then calls no helper at all: ~120 ns less on that walk.
 *
 * This file is the only object that names the kfunc: the static linker of
 * libbpf 1.1 (Debian 12) fails on a kfunc extern declared by two objects.
 * The rest call the global functions declared in path.bpf.h.
 */
#include "path.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;
#define kcast(ptr, type) \
	((struct type *)bpf_rdonly_cast((const void *)(__u64)(ptr), bpf_core_type_id_kernel(struct type)))

/* Steps of the walk: it is bounded by bytes (a component takes at least 2
 * of the PATH_MAX_LEN), plus room for the mount crossings, which take none. */
#define WALK_MAX_STEPS (PATH_MAX_LEN / 2 + 64)
#define NAME_MASK     255    /* a component is at most NAME_MAX bytes */

/*
 * The walk's kernel pointers, kept in a map value rather than on the
 * stack: a value loaded from a map is a plain number to the verifier, so
 * every step looks alike and its states prune, and a pointer is cast to
 * its type where it is used. (Storing a pointer in a map needs
 * CAP_PERFMON, which the sensor has.)
 */
struct walk_state {
	__u64 dentry;
	__u64 vfsmnt;
	__u64 mnt;          /* struct mount of vfsmnt */
	__u64 mnt_root;     /* vfsmnt->mnt_root, read once per mount */
	__u64 root_dentry;  /* the task's root */
	__u64 root_mnt;
	__u32 done;
	__u32 trunc;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct walk_state);
} walk_state SEC(".maps");

struct walk_ctx {
	struct walk_state *w;
	struct pathbuf *pb;
};

/*
 * A name the dentry holds inline (most: up to 39 bytes) copied by plain
 * loads of its words rather than a bpf_probe_read_kernel call per step.
 * The whole words written at `at` run up to 7 bytes past the name, over the
 * '/' and the component already put after it: those 8 bytes are saved
 * before and put back after. Returns false where the name is elsewhere.
 */
static __always_inline bool put_inline_name(struct pathbuf *pb, __u32 at, struct dentry *dentry, __u32 len)
{
	__u8 *dst;
	__u64 saved;

	if (!bpf_core_field_exists(dentry->d_shortname) || len > 39 ||
	    (__u64)dentry->d_name.name != (__u64)dentry + bpf_core_field_offset(struct dentry, d_shortname))
		return false;
	dst = &pb->buf[at & (PATH_MAX_LEN - 1)];
	saved = *(__u64 *)(dst + len);
	*(__u64 *)dst = dentry->d_shortname.words[0];
	if (len > 8)
		*(__u64 *)(dst + 8) = dentry->d_shortname.words[1];
	if (len > 16)
		*(__u64 *)(dst + 16) = dentry->d_shortname.words[2];
	if (len > 24)
		*(__u64 *)(dst + 24) = dentry->d_shortname.words[3];
	if (len > 32)
		*(__u64 *)(dst + 32) = dentry->d_shortname.words[4];
	*(__u64 *)(dst + len) = saved;
	return true;
}

/* One component of the walk, as a bpf_loop body. Returns 1 to stop. */
static long walk_step(__u32 i, struct walk_ctx *c)
{
	struct walk_state *w = c->w;
	__u64 d = w->dentry, parent;
	struct dentry *dentry = kcast(d, dentry);
	__u32 off, len;

	if (d == w->root_dentry && w->vfsmnt == w->root_mnt) {
		w->done = 1;
		return 1;
	}
	parent = (__u64)dentry->d_parent;
	if (d == w->mnt_root || d == parent) {
		struct mount *mnt = kcast(w->mnt, mount);
		__u64 mnt_parent = (__u64)mnt->mnt_parent;

		/* Root of a mount: continue from where it is mounted. */
		if (d == w->mnt_root && w->mnt != mnt_parent) {
			w->dentry = (__u64)mnt->mnt_mountpoint;
			w->mnt = mnt_parent;
			w->vfsmnt = mnt_parent + bpf_core_field_offset(struct mount, mnt);
			w->mnt_root = (__u64)kcast(mnt_parent, mount)->mnt.mnt_root;
			return 0;
		}
		w->done = 1; /* the global root, or a detached tree */
		return 1;
	}
	len = dentry->d_name.len & NAME_MASK;
	off = c->pb->off;
	if (off < len + 1 || off > PATH_MAX_LEN - 1) {
		w->trunc = 1;
		return 1;
	}
	off -= len + 1;
	if (!put_inline_name(c->pb, off + 1, dentry, len))
		bpf_probe_read_kernel(&c->pb->buf[(off + 1) & (PATH_MAX_LEN - 1)], len, dentry->d_name.name);
	c->pb->buf[off & (PATH_MAX_LEN - 1)] = '/';
	c->pb->off = off;
	w->dentry = parent;
	return 0;
}

static __always_inline struct walk_state *walk_state_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&walk_state, &zero);
}

/*
 * Writes the absolute path of w's (vfsmnt, dentry) into pb, ending at
 * PATH_MAX_LEN - 1. Returns the offset where it starts | PUT_TRUNC; its
 * length is PATH_MAX_LEN - 1 - start. When the walk did not reach the root
 * (the path is longer than PATH_MAX_LEN) the result is the tail without its
 * leading '/': it must not pass for an absolute path.
 */
static __always_inline int walk_path(struct walk_state *w, struct pathbuf *pb)
{
	struct fs_struct *fs = bpf_get_current_task_btf()->fs;
	struct walk_ctx c = { .w = w, .pb = pb };
	__u32 off;

	w->mnt = w->vfsmnt - bpf_core_field_offset(struct mount, mnt);
	w->mnt_root = (__u64)kcast(w->vfsmnt, vfsmount)->mnt_root;
	w->root_dentry = (__u64)fs->root.dentry;
	w->root_mnt = (__u64)fs->root.mnt;
	w->done = 0;
	w->trunc = 0;
	pb->off = PATH_MAX_LEN - 1;
	bpf_loop(WALK_MAX_STEPS, walk_step, &c, 0);
	off = pb->off;
	if (!w->done || w->trunc) {
		if (off < PATH_MAX_LEN - 1)
			off++; /* drop the leading '/' */
		return off | PUT_TRUNC;
	}
	if (off == PATH_MAX_LEN - 1) { /* no component: the root itself */
		off--;
		pb->buf[off] = '/';
	}
	return off;
}

/* Puts pb's path (walk_path's result r) into the scratch record at off. */
static __always_inline int put_walked(__u32 off, struct pathbuf *pb, int r)
{
	struct scratch *s = scratch_buf();
	bool trunc = r & PUT_TRUNC;
	__u32 start = r & (PATH_MAX_LEN - 1), n;

	if (!s)
		return 0;
	n = put_kernel_bytes(s, off, &pb->buf[start], PATH_MAX_LEN - 1 - start, &trunc);
	return n | (trunc ? PUT_TRUNC : 0);
}

/* The struct file at fd in the current task, or 0. */
static __always_inline __u64 file_of(int fd)
{
	struct fdtable *fdt;
	__u64 fds, fp = 0;

	if (fd < 0)
		return 0;
	fdt = bpf_get_current_task_btf()->files->fdt;
	if (!fdt || (unsigned int)fd >= fdt->max_fds)
		return 0;
	fds = (__u64)fdt->fd; /* struct file **: a number to the verifier */
	if (bpf_probe_read_kernel(&fp, sizeof(fp), (void *)(fds + (__u64)fd * sizeof(fp))))
		return 0;
	return fp;
}

/* w's (vfsmnt, dentry) = the file at fd of the current task; false if none. */
static __always_inline bool fd_to_walk(struct walk_state *w, int fd)
{
	__u64 fp = file_of(fd);
	struct file *f;

	if (!fp)
		return false;
	f = kcast(fp, file);
	w->vfsmnt = (__u64)f->f_path.mnt;
	w->dentry = (__u64)f->f_path.dentry;
	return w->vfsmnt && w->dentry;
}

__noinline __u64 fd_file_at(int fd)
{
	return file_of(fd);
}

/*
 * Inode timestamps moved twice: struct timespec64 i_mtime / i_ctime until
 * 6.6 and 6.7 (__i_ctime, __i_mtime, behind accessors), then separate
 * seconds and nanoseconds (6.11). The flavours name the older layouts.
 */
struct inode___ts64 {
	struct timespec64 i_mtime;
	struct timespec64 i_ctime;
} __attribute__((preserve_access_index));

struct inode___ts64_hidden {
	struct timespec64 __i_mtime;
	struct timespec64 __i_ctime;
} __attribute__((preserve_access_index));

/* Since 6.13 the top bit of i_ctime_nsec says the time was queried
 * (multigrain timestamps); nanoseconds never reach bit 30. */
#define NSEC_MASK 0x3fffffff
#define NS(sec, nsec) ((__u64)(sec) * 1000000000ull + ((nsec) & NSEC_MASK))

/* The identity of the opened file's inode (struct file_identity). */
static __always_inline void put_identity(struct file_identity *id, struct file *f)
{
	struct inode *inode = kcast(f->f_inode, inode);

	if (!inode)
		return;
	id->mode = inode->i_mode;
	id->ino = inode->i_ino;
	id->generation = inode->i_generation;
	id->dev = inode->i_sb->s_dev;
	id->size = inode->i_size;
	if (bpf_core_field_exists(inode->i_mtime_sec)) {
		id->mtime_ns = NS(inode->i_mtime_sec, inode->i_mtime_nsec);
		id->ctime_ns = NS(inode->i_ctime_sec, inode->i_ctime_nsec);
	} else if (bpf_core_field_exists(struct inode___ts64_hidden, __i_mtime)) {
		struct inode___ts64_hidden *t = (void *)inode;

		id->mtime_ns = NS(BPF_CORE_READ(t, __i_mtime.tv_sec), BPF_CORE_READ(t, __i_mtime.tv_nsec));
		id->ctime_ns = NS(BPF_CORE_READ(t, __i_ctime.tv_sec), BPF_CORE_READ(t, __i_ctime.tv_nsec));
	} else {
		struct inode___ts64 *t = (void *)inode;

		id->mtime_ns = NS(BPF_CORE_READ(t, i_mtime.tv_sec), BPF_CORE_READ(t, i_mtime.tv_nsec));
		id->ctime_ns = NS(BPF_CORE_READ(t, i_ctime.tv_sec), BPF_CORE_READ(t, i_ctime.tv_nsec));
	}
}

__noinline int put_path_at(__u32 off, __u64 mnt, __u64 dentry)
{
	struct walk_state *w = walk_state_get();
	struct pathbuf *pb = pathbuf_get();

	if (!w || !pb || !mnt || !dentry)
		return 0;
	w->vfsmnt = mnt;
	w->dentry = dentry;
	return put_walked(off, pb, walk_path(w, pb));
}

__noinline int walk_opened_file(int fd)
{
	struct walk_state *w = walk_state_get();
	struct pathbuf *pb = pathbuf_get();
	struct scratch *s = scratch_buf();
	__u64 fp = file_of(fd);
	struct file *f;

	if (!w || !pb || !s || !fp)
		return -1;
	f = kcast(fp, file);
	put_identity(&s->open.opened, f);
	w->vfsmnt = (__u64)f->f_path.mnt;
	w->dentry = (__u64)f->f_path.dentry;
	if (!w->vfsmnt || !w->dentry)
		return -1;
	return walk_path(w, pb);
}

__noinline int put_fd_path_at(__u32 off, int fd)
{
	struct walk_state *w = walk_state_get();
	struct pathbuf *pb = pathbuf_get();

	if (!w || !pb || !fd_to_walk(w, fd))
		return 0;
	return put_walked(off, pb, walk_path(w, pb));
}

__noinline int put_cwd_at(__u32 off)
{
	struct fs_struct *fs = bpf_get_current_task_btf()->fs;
	struct walk_state *w = walk_state_get();
	struct pathbuf *pb = pathbuf_get();

	if (!w || !pb)
		return 0;
	w->vfsmnt = (__u64)fs->pwd.mnt;
	w->dentry = (__u64)fs->pwd.dentry;
	if (!w->vfsmnt || !w->dentry)
		return 0;
	return put_walked(off, pb, walk_path(w, pb));
}
