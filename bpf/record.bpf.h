/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Building and writing records: who is traced, the common header, the
 * pieces of data[], and the ring-buffer output with its wakeup policy.
 */
#ifndef AGENT_SENSOR_RECORD_BPF_H
#define AGENT_SENSOR_RECORD_BPF_H

#include "maps.bpf.h"

#define AT_FDCWD -100


static __always_inline struct task_struct *current_task(void)
{
	return (struct task_struct *)bpf_get_current_task();
}

static __always_inline void count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &idx);

	if (c)
		*c += 1; /* per-CPU value, programs do not nest on one CPU */
}

/* Who a record is about: the agent and the root of its instance. */
struct who {
	__u32 agent_id;
	__u32 agent_pid;
	__u32 flags;    /* tracked_proc.flags */
	__u64 start;    /* tracked_proc.start_ns as matched; 0 when untracked */
};

/* start_boottime of the current process (its group leader's): through a
 * BTF pointer, plain loads rather than two probe-read helper calls. */
static __always_inline __u64 current_start(void)
{
	return bpf_get_current_task_btf()->group_leader->start_boottime;
}

/*
 * An entry is the current process's only when its start time is: an entry
 * left for a pid that died and was reused is dropped here, at the first
 * hook the stranger reaches, instead of naming the stranger an agent.
 * Only tracked processes pay for the check.
 */
static __always_inline bool same_incarnation_known(struct tracked_proc *tp, __u32 tgid, __u64 known_start)
{
	__u64 start;

	/* This thread matched this very start before (it remembers it in its
	 * own task storage, which dies with it): the entry is still its
	 * process's, without a load from the leader's cold cache line. */
	if (known_start && tp->start_ns == known_start)
		return true;
	start = current_start();
	if (tp->start_ns == start)
		return true;
	if (tp->start_ns == 0) { /* found by the /proc scan: bind now */
		tp->start_ns = start;
		return true;
	}
	bpf_map_delete_elem(&tracked, &tgid);
	count(COUNTER_STALE);
	return false;
}

static __always_inline bool same_incarnation(struct tracked_proc *tp, __u32 tgid)
{
	return same_incarnation_known(tp, tgid, 0);
}

/*
 * The one check every hot-path program makes first, in two steps so that a
 * caller can look at its own state in between (open.bpf.c). Untracked
 * processes cost exactly the lookup of step one. Returns false when nothing
 * is to be traced; *w is then meaningless.
 */
static __always_inline bool traced_lookup(__u32 tgid, struct tracked_proc **tp)
{
	*tp = bpf_map_lookup_elem(&tracked, &tgid);
	return *tp || cfg_trace_all;
}

/* known_start: a start this thread matched before (0: none), see
 * same_incarnation_known; w->start is the entry's. */
static __always_inline bool traced_check(__u32 tgid, struct tracked_proc *tp, struct who *w, __u64 known_start)
{
	if (tgid == cfg_self_tgid)
		return false;
	if (tp && !same_incarnation_known(tp, tgid, known_start)) {
		if (!cfg_trace_all)
			return false;
		tp = NULL;
	}
	w->agent_id = tp ? tp->agent_id : AGENT_NONE;
	w->agent_pid = tp ? tp->agent_pid : 0;
	w->flags = tp ? tp->flags : 0;
	w->start = tp ? tp->start_ns : 0;
	return true;
}

static __always_inline bool traced(__u32 tgid, struct who *w)
{
	struct tracked_proc *tp;

	return traced_lookup(tgid, &tp) && traced_check(tgid, tp, w, 0);
}

static __always_inline struct scratch *scratch_buf(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&scratch, &zero);
}

/*
 * Kernel fields through the BTF task pointer: plain loads that the JIT
 * guards with an exception table (a NULL nsproxy of an exiting task reads
 * as 0), instead of one bpf_probe_read_kernel call per pointer hop. On
 * the open path that was a third of the header's cost. comm (~45 ns less
 * than bpf_get_current_comm), the ids and the cgroup the same way.
 */
static __always_inline void fill_header(struct event_header *h, __u16 type, const struct who *w)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct nsproxy *ns = task->nsproxy;
	const struct cred *cred = task->cred;
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	h->type = type;
	h->flags = w->agent_id == AGENT_CANDIDATE ? EVF_PENDING : 0;
	h->size = 0;
	h->ts_ns = bpf_ktime_get_boot_ns();
	h->pid = pid_tgid >> 32;
	h->tid = (__u32)pid_tgid;
	h->ppid = task->real_parent->tgid;
	h->uid = cred->uid.val; /* kuid: the id in the initial namespace, as the helper gives it */
	h->gid = cred->gid.val;
	h->agent_id = w->agent_id;
	h->agent_pid = w->agent_pid;
	h->_pad = 0;
	h->cgroup_id = task->cgroups->dfl_cgrp->kn->id; /* what bpf_get_current_cgroup_id() reads */
	h->netns = ns->net_ns->ns.inum;
	h->mntns = ns->mnt_ns->ns.inum;
	/* Two loads from the task rather than the helper's string copy (~45 ns
	 * of a traced open); a rename racing with it may tear the name, as
	 * it may for /proc/PID/comm. */
	*(__u64 *)&h->comm[0] = *(__u64 *)&task->comm[0];
	*(__u64 *)&h->comm[8] = *(__u64 *)&task->comm[8];
}

/*
 * Copies the record into the ring buffer. Wakeups are what cost: the
 * reader is woken each time the waiting data crosses a multiple of
 * 1 << cfg_wakeup_shift, otherwise it finds the records on its next (short)
 * poll timeout. Crossing, not "at or above": while a busy reader has not
 * drained the ring yet, every record above the mark used to force a wakeup,
 * an interrupt raised per record (a VM exit on a guest), ~20 % of a traced
 * open's exit under load. A crossing two CPUs both step over is caught at
 * the next multiple, or by the poll timeout.
 */
static __always_inline bool submit(struct scratch *s, __u32 size, __u16 type)
{
	struct event_header *h = (struct event_header *)s->buf;
	__u64 flags = BPF_RB_NO_WAKEUP;
	__u64 avail;

	/* Records are far below SCRATCH_SIZE; the mask only shows the verifier. */
	size = (size + 7) & (SCRATCH_SIZE - 8);
	h->size = size;
	avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	/* + 8: the ring's own header of each record counts in the waiting data */
	/* An agent root's exec wakes the reader at once (one or two per
	 * session): user space reads what only the living process can tell
	 * (its HOME) while it lives. */
	if ((type == EV_EXEC && h->pid == h->agent_pid) ||
	    avail >> cfg_wakeup_shift != (avail + size + 8) >> cfg_wakeup_shift)
		flags = BPF_RB_FORCE_WAKEUP;
	if (bpf_ringbuf_output(&events, s->buf, size, flags)) {
		count(COUNTER_LOST_BASE + (type & 15));
		return false;
	}
	if (h->flags & EVF_TRUNCATED)
		count(COUNTER_TRUNCATED);
	return true;
}

/*
 * Reads a user NUL-terminated string into s at off. Returns its length
 * without the NUL, or -1 when it could not be read. Sets *trunc when the
 * string did not fit in PATH_MAX_LEN.
 */
static __always_inline long put_user_str(struct scratch *s, __u32 off, const char *src, bool *trunc)
{
	long n;
	char next = 0;

	if (!src)
		return -1;
	if (off > SCRATCH_PIECE_MASK) {
		*trunc = true;
		return -1;
	}
	n = bpf_probe_read_user_str(&s->buf[off & SCRATCH_PIECE_MASK], PATH_MAX_LEN, src);
	if (n <= 0)
		return -1;
	/* A full buffer is a 4095-byte string or a cut one: look one further. */
	if (n == PATH_MAX_LEN && !bpf_probe_read_user(&next, 1, src + PATH_MAX_LEN - 1) && next)
		*trunc = true;
	return n - 1;
}

/* Copies len (< PATH_MAX_LEN) kernel bytes into s at off; returns bytes put. */
static __always_inline __u32 put_kernel_bytes(struct scratch *s, __u32 off, const void *src, __u32 len,
					      bool *trunc)
{
	if (off > SCRATCH_PIECE_MASK) {
		*trunc = true;
		return 0;
	}
	len &= PATH_MAX_LEN - 1;
	barrier_var(off); /* else clang drops the mask after the check above */
	off &= SCRATCH_PIECE_MASK;
	if (bpf_probe_read_kernel(&s->buf[off], len, src))
		return 0;
	return len;
}

/* Byte at off of the record, for the "is this path absolute" check. */
static __always_inline __u8 byte_at(struct scratch *s, __u32 off)
{
	return s->buf[off & SCRATCH_PIECE_MASK];
}

/*
 * -ERESTARTSYS .. -ERESTART_RESTARTBLOCK (-512..-516): the call was
 * interrupted and will be entered again (or turned into -EINTR for user
 * space); its real outcome is the next exit, so this one is not reported.
 */
static __always_inline bool restarting(long ret)
{
	if (ret <= -512 && ret >= -516) {
		count(COUNTER_RESTARTED);
		return true;
	}
	return false;
}

/* Pops the arguments stashed at sys_enter for this thread and syscall. */
static __always_inline bool pop_pending(__u32 tid, long nr, struct pending *out)
{
	struct pending *p = bpf_map_lookup_elem(&pending, &tid);

	if (!p)
		return false;
	*out = *p;
	bpf_map_delete_elem(&pending, &tid);
	return out->nr == (__u32)nr;
}

static __always_inline void push_pending(__u32 tid, struct pending *p)
{
	if (bpf_map_update_elem(&pending, &tid, p, BPF_ANY))
		count(COUNTER_PENDING_FULL);
}

/* sys_enter gate + stash in one: the common shape of every enter program. */
static __always_inline int stash_if_traced(struct pending *p)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct who w;

	if (!traced(pid_tgid >> 32, &w))
		return 0;
	push_pending((__u32)pid_tgid, p);
	return 0;
}

#endif /* AGENT_SENSOR_RECORD_BPF_H */
