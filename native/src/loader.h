/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The libbpf side of the sensor, free of any Node-API so it can be driven
 * from a plain C program: open the embedded skeleton, configure it, leave
 * out programs whose hook this kernel lacks, load, attach, then serve the
 * ring buffer, the rule maps and the counters until destroyed.
 *
 * Every function that can fail returns 0 or a count on success and -errno
 * on failure; loader_error() then holds a sentence a user can act on
 * (followed by the tail of libbpf's own log when that explains more).
 *
 * Threads: loader_poll()/loader_consume() belong to one reader thread; the
 * map functions and loader_detach() may be called from another thread at
 * the same time (they only issue bpf() syscalls on fds that stay open until
 * loader_destroy()). loader_destroy() must run after the reader stopped.
 */
#ifndef AGENT_SENSOR_LOADER_H
#define AGENT_SENSOR_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct sensor_loader;

struct loader_config {
	uint32_t ring_bytes;    /* power of two, >= page size               */
	bool     trace_all;     /* trace every process, not only tracked     */
	uint32_t self_tgid;     /* never traced                              */
	uint64_t wakeup_bytes;  /* kernel wakes the reader only past this (rounded down to a power of two); 0 = every record */
	uint32_t tracked_max;   /* capacity of the tracked-process map; 0 = default */
	bool     watch_compat;  /* flag tracked processes making 32-bit syscalls: one
				 * more program on every syscall of the machine */
	bool     watch_open_races; /* read open paths at entry too, flagging a buffer
				    * rewritten during the call: one more program on
				    * every open of the machine */
};

/* Called by the reader thread for each ring record, exactly as in the ring.
 * Returning non-zero stops the current poll round. */
typedef int (*loader_record_fn)(void *ctx, const void *data, size_t size);

enum rule_kind { RULE_COMM = 0, RULE_EXE = 1, RULE_CGROUP = 2 };

/* Returns NULL only when out of memory. */
struct sensor_loader *loader_new(void);

/* Open, configure, probe, load, attach and set up the ring reader. */
int loader_start(struct sensor_loader *l, const struct loader_config *cfg,
		 loader_record_fn on_record, void *ctx);

/* Wait up to timeout_ms for records; returns records consumed or -errno
 * (-EINTR is not an error: callers just poll again). */
int loader_poll(struct sensor_loader *l, int timeout_ms);
/* Consume whatever is in the ring without waiting. */
int loader_consume(struct sensor_loader *l);

/* Detach every program: no new records after this returns. Idempotent. */
void loader_detach(struct sensor_loader *l);

/* key: comm bytes (<= 15) or exe path bytes (< EXE_RULE_LEN), zero-padded
 * here; for RULE_CGROUP, 8 bytes of a host-order uint64_t. */
int loader_set_rule(struct sensor_loader *l, enum rule_kind kind, const void *key,
		    size_t key_len, uint32_t agent_id, uint32_t flags);
int loader_delete_rule(struct sensor_loader *l, enum rule_kind kind, const void *key,
		       size_t key_len);

/* Puts a running process under watch (the /proc scan). start_ns 0: the
 * first hook the process reaches binds the entry to it. agent_pid: the
 * root of its agent instance (0: tgid itself). */
int loader_track(struct sensor_loader *l, uint32_t tgid, uint32_t agent_id, uint32_t flags,
		 uint64_t start_ns, uint32_t agent_pid);
int loader_untrack(struct sensor_loader *l, uint32_t tgid);

/*
 * An argv decision about a tracked process, applied only to the entry it
 * was made about: one whose agent_pid is expect_agent_pid and, when
 * expect_start_ns is not 0, whose start time is that. agent_id
 * AGENT_NONE removes the entry, anything else replaces the agent and
 * agent_pid (new_agent_pid) and never creates an entry: a process that
 * has exited is not brought back. Returns 0, -ENOENT (not tracked: gone),
 * -ESTALE (another incarnation or instance holds the pid now).
 */
int loader_decide(struct sensor_loader *l, uint32_t tgid, uint64_t expect_start_ns, uint32_t expect_agent_pid,
		  uint32_t agent_id, uint32_t new_agent_pid);

/* 0 and *agent_id set, or -ENOENT when tgid is not tracked. */
int loader_tracked_agent(struct sensor_loader *l, uint32_t tgid, uint32_t *agent_id);
/* The whole entry (struct tracked_proc in events.h), or -ENOENT. */
struct tracked_proc;
int loader_tracked_entry(struct sensor_loader *l, uint32_t tgid, struct tracked_proc *out);

/* Per-agent counts of processes the kernel could not track (map full),
 * out[AGENT_SLOTS], index = agent id (0 = undecided candidates). */
int loader_read_agent_untracked(struct sensor_loader *l, uint64_t *out, size_t n);

/* Sum of the per-CPU counters, out[COUNTER_MAX] (enum counter in events.h). */
int loader_read_counters(struct sensor_loader *l, uint64_t *out, size_t n);

/* Programs left out because their hook does not exist on this kernel. */
size_t loader_unavailable_count(const struct sensor_loader *l);
const char *loader_unavailable_name(const struct sensor_loader *l, size_t i);

/* The last failure's message; "" if none. */
const char *loader_error(const struct sensor_loader *l);

/* Detach, unload and free everything. NULL is fine. */
void loader_destroy(struct sensor_loader *l);

#ifdef __cplusplus
}
#endif

#endif /* AGENT_SENSOR_LOADER_H */
