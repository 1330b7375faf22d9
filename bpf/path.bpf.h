/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Paths in records: absolute paths of kernel (vfsmount, dentry) pairs (the
 * directory a relative path is resolved against, the file an fd names),
 * and path arguments read from the caller's memory. The dentry walk itself
 * is in path.bpf.c (see there why); this header declares it and holds what
 * every program inlines.
 */
#ifndef AGENT_SENSOR_PATH_BPF_H
#define AGENT_SENSOR_PATH_BPF_H

#include "record.bpf.h"

extern __u64 fd_file_at(int fd);

/* The struct file behind fd in the current task, or NULL. (task is the
 * current one: path.bpf.c reads it through its BTF type.) */
static __always_inline struct file *fd_file(struct task_struct *task, int fd)
{
	return (struct file *)fd_file_at(fd);
}

static __always_inline struct pathbuf *pathbuf_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&pathbuf, &zero);
}

#define PUT_TRUNC (1 << 16)

/*
 * Global functions of path.bpf.c (the linker resolves them; the verifier
 * checks each once per program instead of at every call site). They take
 * and return scalars and find the per-CPU buffers themselves.
 *   put_path_at: the absolute path of (mnt, dentry) put into the scratch
 *     record at off; returns its length | PUT_TRUNC when cut.
 *   put_fd_path_at: the same for the file open at fd in the current task
 *     (0 when fd names no file).
 *   fd_file_at: the struct file at fd in the current task, or 0.
 *   put_cwd_at: the same for the current task's working directory.
 *   walk_opened_file: for the file a successful open returned at fd: the
 *     identity of its inode put into the scratch record's open.opened, and
 *     its path built in the per-CPU pathbuf only; returns where the path
 *     starts | PUT_TRUNC, or -1 when fd names no file. It ends at
 *     PATH_MAX_LEN - 1.
 */
extern int put_path_at(__u32 off, __u64 mnt, __u64 dentry);
extern int put_fd_path_at(__u32 off, int fd);
extern int walk_opened_file(int fd);
extern int put_cwd_at(__u32 off);

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
	int r = dirfd == AT_FDCWD ? put_cwd_at(off) : put_fd_path_at(off, dirfd);

	if (r & PUT_TRUNC)
		*trunc = true;
	return r & (PATH_MAX_LEN - 1);
}

/*
 * After a path of n bytes put at off (n < 0: none): the directory of dirfd
 * behind it when the path is relative. Sets *path_len and *dir_len; returns
 * the bytes put.
 */
static __always_inline __u32 put_dir_if_relative(struct scratch *s, __u32 off, long n, int dirfd, __u16 *path_len,
						 __u16 *dir_len, bool *trunc)
{
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
 * A path argument of a file syscall: the user string read at exit (the
 * kernel has faulted its page in by then), and when it is relative, the
 * absolute directory it was resolved against. Returns bytes put; sets
 * *path_len and *dir_len.
 */
static __always_inline __u32 put_path_arg(struct scratch *s, __u32 off, const char *upath, int dirfd,
					  __u16 *path_len, __u16 *dir_len, bool *trunc)
{
	long n = put_user_str(s, off, upath, trunc);

	return put_dir_if_relative(s, off, n, dirfd, path_len, dir_len, trunc);
}

/*
 * Path arguments read at sys_enter, before the kernel uses them (another
 * thread may rewrite the buffer while the call blocks), kept per thread in
 * `argstr` for the exit that builds the record.
 */
/*
 * Most paths fit in STASH_STACK_BYTES: they are read onto the stack and
 * copied into the slot by words. A user read into a map value pays the
 * kernel's hardened-usercopy check of a heap object (a page and slab
 * lookup: two fifths of the read's samples in `perf` of the open loop);
 * into the stack it is a bounds check (~20 ns less per entry, bpf_stats).
 * A longer path is read into the slot itself.
 */
#define STASH_STACK_BYTES 192
static __always_inline bool stash_short_path(struct argstr *a, const char *upath)
{
	__u64 words[STASH_STACK_BYTES / 8];
	long n = bpf_probe_read_user_str(words, sizeof(words), upath);
	__u32 last;

	/* n counts the NUL; n == the buffer's size may be a cut string */
	if (n <= 0 || n >= (long)sizeof(words))
		return false;
	last = (__u32)(n - 1) / 8;
	for (__u32 i = 0; i < STASH_STACK_BYTES / 8; i++) {
		__u64 w = words[i];

		if (i > last)
			break;
		/* past the NUL is stack left by others: not copied */
		if (i == last && (n & 7))
			w &= (1ULL << ((n & 7) * 8)) - 1;
		*(__u64 *)&a->buf[i * 8] = w;
	}
	a->len = n - 1;
	a->flags = ARGSTR_VALID;
	return true;
}

/* The caller's path at entry into a's buffer. Not valid when the page was
 * not present: the exit reads it then. */
static __always_inline void stash_path_into(struct argstr *a, const char *upath)
{
	char next = 0;
	long n;

	a->flags = 0;
	if (stash_short_path(a, upath))
		return;
	n = bpf_probe_read_user_str(a->buf, PATH_MAX_LEN, upath);
	if (n <= 0)
		return;
	a->len = n - 1;
	a->flags = ARGSTR_VALID;
	/* A full buffer is a 4095-byte string or a cut one: look one further. */
	if (n == PATH_MAX_LEN && !bpf_probe_read_user(&next, 1, upath + PATH_MAX_LEN - 1) && next)
		a->flags |= ARGSTR_TRUNC;
}

/* The caller's path at entry into this thread's `argstr` slot (created on
 * the thread's first call). */
static __always_inline void stash_path_str(const char *upath)
{
	struct argstr *a = bpf_task_storage_get(&argstr, bpf_get_current_task_btf(), 0, BPF_LOCAL_STORAGE_GET_F_CREATE);

	if (a)
		stash_path_into(a, upath);
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
 * Do len bytes at a and b differ? A word at a time (a and b are map values).
 * Paths up to CMP_INLINE_WORDS words, most of what agents open, in a plain
 * bounded loop: ~100 ns less per traced open than bpf_loop's callbacks
 * (bench/run.js, bpf_stats), and the verifier walks 12 steps at most.
 */
#define CMP_INLINE_WORDS 12
static __always_inline bool bytes_differ(const __u8 *a, const __u8 *b, __u32 len)
{
	if (len <= CMP_INLINE_WORDS * 8) {
		__u32 words = (len + 7) / 8, tail = len % 8;

		for (__u32 i = 0; i < CMP_INLINE_WORDS; i++) {
			__u64 x, y;

			if (i >= words)
				return false;
			x = *(const __u64 *)(a + i * 8);
			y = *(const __u64 *)(b + i * 8);
			if (i == words - 1 && tail) {
				x &= (1ULL << (tail * 8)) - 1;
				y &= (1ULL << (tail * 8)) - 1;
			}
			if (x != y)
				return true;
		}
		return false;
	}
	struct cmp_ctx c = {
		.a = a,
		.b = b,
		.words = (len + 7) / 8,
		.tail = len % 8,
	};

	bpf_loop(PATH_MAX_LEN / 8, cmp_word, &c, 0);
	return c.differ;
}

/*
 * Does the caller's buffer still hold what it held at entry? Reads it again
 * into the per-CPU pathbuf and compares. The string and its NUL are read
 * as len + 1 plain bytes (a shorter string now has its NUL earlier, a
 * longer one has none at len): cheaper than a string read, which checks
 * every byte for the end. A string cut at entry is compared on its len.
 */
static __always_inline bool path_changed(const char *upath, struct argstr *at_entry, __u32 aflags)
{
	struct pathbuf *pb = pathbuf_get();
	__u32 len = at_entry->len & (PATH_MAX_LEN - 1);
	__u32 n = (aflags & ARGSTR_TRUNC) ? len : len + 1;
	long r;

	if (!pb)
		return false;
	if (!bpf_probe_read_user(pb->buf, n, upath))
		return bytes_differ(pb->buf, at_entry->buf, n);
	/* not readable in full any more: as a string, as far as it goes */
	r = bpf_probe_read_user_str(pb->buf, PATH_MAX_LEN, upath);
	if (r <= 0 || (__u32)(r - 1) != len)
		return r > 0;
	return bytes_differ(pb->buf, at_entry->buf, len);
}

/* A short string from a map value into the record by words (up to 7
 * bytes past len are written: what follows is put after it, or is past the
 * record's end); a longer one by the helper. */
static __always_inline __u32 put_value_bytes(struct scratch *s, __u32 off, const __u8 *src, __u32 len, bool *trunc)
{
	if (len > CMP_INLINE_WORDS * 8 || off > SCRATCH_PIECE_MASK)
		return put_kernel_bytes(s, off, src, len, trunc);
	off &= SCRATCH_PIECE_MASK;
	for (__u32 i = 0; i < CMP_INLINE_WORDS; i++) {
		if (i * 8 >= len)
			break;
		*(__u64 *)&s->buf[off + i * 8] = *(const __u64 *)(src + i * 8);
	}
	return len;
}

/* The caller's path string from entry, or read now (EVF_PATH_LATE); the
 * caller compares the buffer with it (path_changed) or leaves it be. */
static __always_inline long put_entry_path(struct scratch *s, __u32 off, const char *upath, struct argstr *a,
					   __u32 aflags, __u16 *hflags, bool *trunc)
{
	if (!a || !(aflags & ARGSTR_VALID)) {
		*hflags |= EVF_PATH_LATE;
		return put_user_str(s, off, upath, trunc);
	}
	if (aflags & ARGSTR_TRUNC)
		*trunc = true;
	return put_value_bytes(s, off, a->buf, a->len & (PATH_MAX_LEN - 1), trunc);
}

/* put_entry_path, flagging EVF_ARG_CHANGED when the buffer no longer holds it. */
static __always_inline long put_caller_path(struct scratch *s, __u32 off, const char *upath, struct argstr *a,
					    __u32 aflags, __u16 *hflags, bool *trunc)
{
	long n = put_entry_path(s, off, upath, a, aflags, hflags, trunc);

	if (a && (aflags & ARGSTR_VALID) && path_changed(upath, a, aflags))
		*hflags |= EVF_ARG_CHANGED;
	return n;
}

/* The slot of this thread, and its ARGSTR_* flags as its sys_enter left them. */
static __always_inline struct argstr *argstr_slot(__u32 *aflags)
{
	struct argstr *a = bpf_task_storage_get(&argstr, bpf_get_current_task_btf(), 0, 0);

	*aflags = a ? a->flags : 0;
	return a;
}

/* put_path_arg with the caller's string from entry (exit: the fallback). */
static __always_inline __u32 put_path_arg_at_entry(struct scratch *s, __u32 off, const char *upath, struct argstr *a,
						   __u32 aflags, int dirfd, __u16 *path_len, __u16 *dir_len,
						   __u16 *hflags, bool *trunc)
{
	long n = put_caller_path(s, off, upath, a, aflags, hflags, trunc);

	return put_dir_if_relative(s, off, n, dirfd, path_len, dir_len, trunc);
}

#endif /* AGENT_SENSOR_PATH_BPF_H */
