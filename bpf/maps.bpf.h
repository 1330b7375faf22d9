/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Every map and tunable the programs share. Each .bpf.c includes this
 * header and `bpftool gen object` links them into one object; `__weak`
 * makes the linker keep a single copy of each definition instead of
 * refusing the duplicates. The names are the native loader's interface:
 * do not rename them.
 */
#ifndef AGENT_SENSOR_MAPS_BPF_H
#define AGENT_SENSOR_MAPS_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "events.h"

/* Set by the loader through the skeleton's rodata before load. */
const volatile __u32 cfg_trace_all __weak = 0;    /* trace every process     */
const volatile __u32 cfg_self_tgid __weak = 0;    /* the sensor, never traced */
/* The reader is woken when the waiting data crosses a multiple of
 * 1 << cfg_wakeup_shift (0: every record): a shift per record where a byte
 * count took two 64-bit divisions. */
const volatile __u32 cfg_wakeup_shift __weak = 0;

/* tgid -> agent it belongs to; presence is what "tracked" means. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct tracked_proc);
} tracked SEC(".maps") __weak;

/* Agent rules, keyed by what is known at exec: comm, exe path, cgroup. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, char[COMM_LEN]);
	__type(value, struct rule_value);
} rules_comm SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, char[EXE_RULE_LEN]);
	__type(value, struct rule_value);
} rules_exe SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, struct rule_value);
} rules_cgroup SEC(".maps") __weak;

/* The loader sizes it (bpf_map__set_max_entries) before load. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} events SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps") __weak;

/*
 * A record is assembled here, then copied into the ring buffer with its
 * real size; the stack (512 bytes) cannot hold paths. Pieces of data[]
 * start at offsets masked with SCRATCH_PIECE_MASK and are at most
 * PATH_MAX_LEN long, which keeps every access provably inside the value.
 */
#define SCRATCH_SIZE       32768   /* the largest per-CPU value the kernel allows */
#define SCRATCH_PIECE_MASK 16383
struct scratch {
	/* The record types are named here so that they are in the object's
	 * BTF, where test/layout.test.ts compares them with the TypeScript
	 * decoder; casts alone leave no trace there. */
	union {
		__u8 buf[SCRATCH_SIZE];
		struct event_header hdr;
		struct exec_event exec;
		struct fork_event fork;
		struct exit_event exit;
		struct open_event open;
		struct connect_event connect;
		struct unlink_event unlink;
		struct rename_event rename;
		struct dns_event dns;
	};
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps") __weak;

/* A directory path is built backwards from the end of the first
 * PATH_MAX_LEN bytes; the slack after it absorbs a masked name copy.
 * `off` lives here rather than on the stack on purpose: a value loaded
 * from a map is opaque to the verifier, so every step of the walk looks
 * alike and its states prune instead of multiplying. */
#define PATHBUF_SIZE 8192
struct pathbuf {
	__u8 buf[PATHBUF_SIZE];
	__u32 off;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pathbuf);
} pathbuf SEC(".maps") __weak;

/*
 * Syscall arguments stashed at sys_enter for sys_exit, keyed by tid. A
 * thread is in one syscall at a time; `nr` guards against an entry left
 * by a syscall whose exit program is not loaded.
 */
struct pending {
	__u64 ptr[3];   /* user pointers: path, newpath / sockaddr, buffer, how */
	__s32 fd[2];    /* dirfd, newdirfd / socket fd */
	__u64 len;      /* addrlen, buffer length, vlen */
	__u32 flags;
	__u32 mode;
	__u32 nr;       /* syscall number, ctx->id */
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct pending);
} pending SEC(".maps") __weak;

/*
 * A path argument as the caller's memory held it at sys_enter, per
 * thread, for the sys_exit that builds the record: another thread may
 * rewrite the buffer while the call blocks (a FIFO open), and the exit
 * compares the two. Task storage: created zeroed on a tracked thread's
 * first call, reused by its later calls (a call costs only the string
 * read, a lookup is a load from the task), freed with the thread; an
 * untracked thread never has one. Without it (no memory) the exit reads
 * the path alone (EVF_PATH_LATE).
 */
#define ARGSTR_VALID (1 << 0) /* filled by the current call's sys_enter */
#define ARGSTR_TRUNC (1 << 1)
struct argstr {
	__u8  buf[PATH_MAX_LEN];
	__u32 len;          /* without the NUL */
	__u32 flags;        /* ARGSTR_* */
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct argstr);
} argstr SEC(".maps") __weak;

/* Processes the kernel could not track for want of room in `tracked`, by
 * agent (index AGENT_SLOT_MASK & agent_id, 0 = undecided candidates). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, AGENT_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} agent_untracked SEC(".maps") __weak;

/* Datagram destinations already reported, so a chatty socket is one event. */
struct dgram_key {
	__u32 tgid;
	__s32 fd;
	__u16 family;
	__u16 port;
	__u32 path_len;
	__u8  addr[16];
	char  unix_path[UNIX_PATH_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct dgram_key);
	__type(value, __u8);
} dgram_seen SEC(".maps") __weak;

#endif /* AGENT_SENSOR_MAPS_BPF_H */
