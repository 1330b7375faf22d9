/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The one definition of every record the kernel side writes into the ring
 * buffer and the native side reads out of it. Plain fixed-size types only,
 * explicit padding, every record a multiple of 8 bytes so nothing needs
 * `packed`. The TypeScript decoder (sensor/kernel/layout.ts) is checked
 * against the BTF of the compiled object by test/layout.test.ts.
 *
 * Variable-length records: a fixed part followed by `data[]`, whose pieces
 * (paths, argv, payload) are laid one after the other with the lengths given
 * in the fixed part. `hdr.size` is the whole record rounded up to 8.
 */
#ifndef AGENT_SENSOR_EVENTS_H
#define AGENT_SENSOR_EVENTS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define COMM_LEN        16
#define PATH_MAX_LEN    4096   /* a path as given to the syscall, or a dir   */
#define ARGV_MAX_LEN    2048   /* raw NUL-separated argv area of an exec      */
#define ARGV_MAX_ARGS   32     /* argv elements counted into exec.argc        */
#define UNIX_PATH_LEN   108
#define DNS_PAYLOAD_MAX 512    /* bytes of a DNS query or response we keep     */
#define EXE_RULE_LEN    256    /* key length of an exe-path agent rule        */

/* Event types; the proto's oneof field numbers match these (test checks). */
enum event_type {
	EV_UNSPECIFIED = 0,
	EV_EXEC        = 1,
	EV_FORK        = 2,
	EV_EXIT        = 3,
	EV_OPEN        = 4,
	EV_CONNECT     = 5,
	EV_UNLINK      = 6,
	EV_RENAME      = 7,
	EV_LINK        = 8,
	EV_DNS         = 9,
	EV_MAX         = 10,
};

/* hdr.flags */
#define EVF_PENDING    (1 << 0) /* process is an agent candidate, not decided */
#define EVF_TRUNCATED  (1 << 1) /* a path/argv/payload did not fit            */
#define EVF_PATH_LATE  (1 << 2) /* path could only be read at syscall exit    */
#define EVF_ARG_CHANGED (1 << 3) /* the path string in user memory at exit differs
				  * from the one read at entry (another thread) */
#define EVF_UNTRACKED  (1 << 4) /* exec/fork of an agent process the kernel could
				  * not track (map full): nothing else follows  */
#define EVF_COMPAT     (1 << 5) /* the process made 32-bit (compat) syscalls,
				  * which the syscall tracepoints do not see     */
#define EVF_KPATH_SAME (1 << 6) /* open: the kernel's path of the opened file is
				  * path itself, not repeated (kpath_len 0)     */

/* agent ids: 0 = not an agent, AGENT_CANDIDATE = matched a rule that needs
 * user space (argv) to decide; events flow meanwhile with EVF_PENDING. */
#define AGENT_NONE      0u
#define AGENT_CANDIDATE 0xffffffffu

struct event_header {
	__u16 type;        /* enum event_type                       */
	__u16 flags;       /* EVF_*                                 */
	__u32 size;        /* whole record, bytes, multiple of 8    */
	__u64 ts_ns;       /* bpf_ktime_get_boot_ns() (CLOCK_BOOTTIME) */
	__u32 pid;         /* tgid                                  */
	__u32 tid;
	__u32 ppid;        /* tgid of real_parent                   */
	__u32 uid;
	__u32 gid;
	__u32 agent_id;
	__u64 cgroup_id;
	__u32 netns;       /* inode number of the net namespace     */
	__u32 mntns;       /* inode number of the mount namespace   */
	char  comm[COMM_LEN];
	__u32 agent_pid;   /* root process of the agent instance, 0 if none */
	__u32 _pad;
};

/* exec: data = filename[filename_len] argv[argv_len] (NUL-separated)
 * exe[exe_len] cwd[cwd_len]; exe is the path of the file the kernel
 * executed (symlinks resolved), cwd the task's working directory, both
 * taken in the kernel at exec; either is empty when it could not be read,
 * and does not start with '/' when its walk stopped short of the root. */
struct exec_event {
	struct event_header hdr;
	__u64 start_ns;     /* task start_boottime (boot ns), with pid = identity */
	__u32 filename_len;
	__u32 argv_len;
	__u32 argc;         /* elements in argv area (capped ARGV_MAX_ARGS)  */
	__u16 exe_len;
	__u16 cwd_len;
	__u8  data[];
};

/* fork: hdr.pid/tid = child, hdr.ppid = parent tgid */
struct fork_event {
	struct event_header hdr;
	__u64 start_ns;     /* child's start_boottime */
};

struct exit_event {
	struct event_header hdr;
	__u32 exit_code;    /* raw wait status: code << 8 | signal */
	__u32 _pad;
};

/* open family. data = path[path_len] dir[dir_len] kpath[kpath_len]; path
 * is the caller's string as read at entry (EVF_PATH_LATE: only at exit;
 * EVF_ARG_CHANGED: the buffer held something else at exit), dir the
 * absolute directory a relative path is resolved against (dirfd or cwd),
 * empty when path is absolute, kpath the kernel's path of the file a
 * successful open returned (empty with EVF_KPATH_SAME: it is path). */
/* The inode a successful open returned, as it was at that moment: which
 * file (dev, ino) and which version of it (size, mtime, ctime). mode = 0:
 * not read (a failed open). dev is the kernel's encoding, MAJOR << 20 |
 * MINOR; times are nanoseconds since the epoch. An inode number freed is
 * soon given to a new file; the generation tells the two apart (file
 * systems that keep none leave it 0). */
struct file_identity {
	__u32 dev;
	__u32 mode;         /* i_mode: type and permission bits */
	__u64 ino;
	__u32 generation;   /* i_generation */
	__u32 _pad;
	__u64 size;
	__u64 mtime_ns;
	__u64 ctime_ns;
};

struct open_event {
	struct event_header hdr;
	__s32 result;       /* fd or -errno */
	__u32 flags;
	__u32 mode;
	__s32 dirfd;
	__u16 path_len;
	__u16 dir_len;
	__u16 syscall_nr;   /* which of open/creat/openat/openat2 */
	__u16 kpath_len;    /* path of the opened file (result >= 0), from its fd */
	struct file_identity opened;
	__u8  data[];
};

/* connect, and first send of a (socket, destination) pair on a datagram socket */
#define CONNF_DATAGRAM (1 << 0) /* seen through sendto/sendmsg, not connect */
struct connect_event {
	struct event_header hdr;
	__s32 result;       /* 0, -errno (-EINPROGRESS on non-blocking) */
	__s32 fd;
	__u16 family;       /* AF_INET, AF_INET6, AF_UNIX */
	__u16 port;         /* host byte order */
	__u16 protocol;     /* IPPROTO_TCP/UDP/..., 0 for unix */
	__u16 sock_type;    /* SOCK_STREAM/DGRAM/... */
	__u32 flags;        /* CONNF_* */
	__u32 path_len;     /* unix sun_path bytes used */
	__u8  addr[16];     /* v4 in the first 4 bytes, network order */
	char  unix_path[UNIX_PATH_LEN];
	__u32 _pad;
};

/* unlink/unlinkat/rmdir. data = path dir */
#define UNLF_RMDIR (1 << 0)
struct unlink_event {
	struct event_header hdr;
	__s32 result;
	__u32 flags;        /* UNLF_* */
	__u16 path_len;
	__u16 dir_len;
	__u32 syscall_nr;
	__u8  data[];
};

/* rename* and link/symlink*. data = path dir newpath newdir. For a
 * symlink, path is the link's target text, stored verbatim (dir empty). */
#define LNKF_SYMBOLIC (1 << 0)
struct rename_event {
	struct event_header hdr;
	__s32 result;
	__u32 flags;        /* renameat2 flags, or LNKF_* for EV_LINK */
	__u16 path_len;
	__u16 dir_len;
	__u16 newpath_len;
	__u16 newdir_len;
	__u32 syscall_nr;
	__u32 _pad;
	__u8  data[];
};

/* dns: a send to port 53, or (DNSF_RESPONSE) a datagram received from port
 * 53 by a tracked process; addr/port is the server either way.
 * data = payload[payload_len] */
#define DNSF_RESPONSE (1 << 0)
struct dns_event {
	struct event_header hdr;
	__s32 fd;
	__u16 family;
	__u16 port;
	__u8  addr[16];
	__u32 payload_len;
	__u32 flags;        /* DNSF_* */
	__u8  data[];
};

/* agent rules, pushed by user space */
struct rule_value {
	__u32 agent_id;
	__u32 flags;        /* RULEF_* */
};
#define RULEF_CANDIDATE (1 << 0) /* needs user space to confirm (argv rules) */

/*
 * A tracked process. (tgid, start_ns) names one incarnation: user space
 * binds every decision to it, and a hook that finds an entry whose
 * start_ns is not the current process's treats it as stale (pid reuse).
 * start_ns 0 (a process found by the /proc scan, whose exact start user
 * space cannot read) is bound by the first hook that sees it.
 */
struct tracked_proc {
	__u32 agent_id;     /* AGENT_CANDIDATE while undecided */
	__u32 flags;        /* RULEF_*, TPF_* */
	__u64 start_ns;     /* task start_boottime of the group leader */
	__u32 agent_pid;    /* root of the agent instance (rule match, scan) */
	__u32 _pad;
};
#define TPF_COMPAT (1 << 8) /* compat syscalls seen (EVF_COMPAT on its exit) */

/* Per-agent counters (percpu array, index agent_id & AGENT_SLOT_MASK; slot
 * 0 = undecided candidates): processes of that agent the kernel could not
 * track because `tracked` was full. */
#define AGENT_SLOTS     1024
#define AGENT_SLOT_MASK (AGENT_SLOTS - 1)

/* per-CPU counters: index COUNTER_LOST_BASE + type counts records of that
 * type that could not be written to the ring buffer. */
enum counter {
	COUNTER_TRUNCATED   = 0,  /* records written with EVF_TRUNCATED      */
	COUNTER_PENDING_FULL = 1, /* entry/exit pairing map full             */
	COUNTER_TRACKED_FULL = 2, /* could not track a new process           */
	COUNTER_STALE       = 3,  /* tracked entries of a dead incarnation dropped */
	COUNTER_RESTARTED   = 4,  /* syscall exits with -ERESTART*: not reported */
	COUNTER_COMPAT      = 5,  /* compat syscalls entered by tracked processes */
	COUNTER_LOST_BASE   = 16, /* + enum event_type                       */
	COUNTER_MAX         = 32,
};

#ifndef __cplusplus
#ifndef __bpf__
_Static_assert(sizeof(struct event_header) == 80, "event_header layout");
_Static_assert(sizeof(struct exec_event) == 104, "exec_event layout");
_Static_assert(sizeof(struct open_event) == 152, "open_event layout");
_Static_assert(sizeof(struct connect_event) % 8 == 0, "connect_event align");
_Static_assert(sizeof(struct dns_event) == 112, "dns_event layout");
#endif
#endif

#endif /* AGENT_SENSOR_EVENTS_H */
