// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Process lifecycle: exec decides whether a process is an agent (the
 * in-kernel filter), fork hands that decision to children, exit forgets it.
 */
#include "record.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Exact, zero-padded key of rules_exe, built in the (unused here) pathbuf. */
static __always_inline struct rule_value *match_exe(const void *filename)
{
	__u32 zero = 0;
	struct pathbuf *pb = bpf_map_lookup_elem(&pathbuf, &zero);
	long n;

	if (!pb)
		return NULL;
	__builtin_memset(pb->buf, 0, EXE_RULE_LEN);
	n = bpf_probe_read_kernel_str(pb->buf, EXE_RULE_LEN, filename);
	if (n <= 0 || n >= EXE_RULE_LEN) /* longer than any key can be */
		return NULL;
	return bpf_map_lookup_elem(&rules_exe, pb->buf);
}

/*
 * An exec'ing process that is not tracked yet becomes tracked when its
 * exe path, new comm or cgroup matches a rule. A candidate rule tracks it
 * as AGENT_CANDIDATE until user space has read argv and decided.
 */
static __always_inline bool match_rules(const void *filename, __u32 tgid, __u32 *agent_id)
{
	struct rule_value *rule = match_exe(filename);
	struct tracked_proc tp = {};

	if (!rule) {
		char comm[COMM_LEN] = {};

		bpf_get_current_comm(comm, sizeof(comm));
		rule = bpf_map_lookup_elem(&rules_comm, comm);
	}
	if (!rule) {
		__u64 cgid = bpf_get_current_cgroup_id();

		rule = bpf_map_lookup_elem(&rules_cgroup, &cgid);
	}
	if (!rule)
		return false;
	tp.agent_id = (rule->flags & RULEF_CANDIDATE) ? AGENT_CANDIDATE : rule->agent_id;
	tp.flags = rule->flags;
	if (bpf_map_update_elem(&tracked, &tgid, &tp, BPF_ANY))
		count(COUNTER_TRACKED_FULL);
	*agent_id = tp.agent_id;
	return true;
}

struct argc_ctx {
	struct scratch *s;
	__u32 off;
	__u32 len;
	__u32 nuls;
};

/* bpf_loop body: a plain loop over 2048 bytes is too much for the verifier. */
static long count_nul(__u32 i, struct argc_ctx *c)
{
	if (i >= c->len || c->nuls >= ARGV_MAX_ARGS)
		return 1;
	if (c->s->buf[(c->off + i) & (SCRATCH_SIZE - 1)] == 0)
		c->nuls++;
	return 0;
}

/* Raw argv area; its NULs separate the arguments. */
static __always_inline __u32 put_argv(struct scratch *s, __u32 off, __u32 *argc, bool *trunc)
{
	struct mm_struct *mm = BPF_CORE_READ(current_task(), mm);
	__u64 start = BPF_CORE_READ(mm, arg_start);
	__u64 end = BPF_CORE_READ(mm, arg_end);
	struct argc_ctx c = { .s = s, .off = off };

	if (!start || end <= start || off > SCRATCH_PIECE_MASK)
		return 0;
	c.len = end - start > ARGV_MAX_LEN ? ARGV_MAX_LEN : end - start;
	if (end - start > ARGV_MAX_LEN)
		*trunc = true;
	barrier_var(c.len); /* else clang drops the mask the verifier needs */
	c.len &= 2 * ARGV_MAX_LEN - 1;
	if (bpf_probe_read_user(&s->buf[off & SCRATCH_PIECE_MASK], c.len, (void *)start))
		return 0;
	bpf_loop(ARGV_MAX_LEN, count_nul, &c, 0);
	*argc = c.nuls;
	return c.len;
}

SEC("tracepoint/sched/sched_process_exec")
int tp_sched_process_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	const void *filename = (void *)ctx + (ctx->__data_loc_filename & 0xffff);
	struct tracked_proc *tp;
	struct exec_event *e;
	struct scratch *s;
	__u32 agent_id = AGENT_NONE, off, argc = 0;
	bool trunc = false;
	long n;

	if (tgid == cfg_self_tgid)
		return 0;
	tp = bpf_map_lookup_elem(&tracked, &tgid);
	if (tp)
		agent_id = tp->agent_id; /* agents re-exec themselves: stay tracked */
	else if (!match_rules(filename, tgid, &agent_id) && !cfg_trace_all)
		return 0;

	s = scratch_buf();
	if (!s)
		return 0;
	e = (struct exec_event *)s->buf;
	fill_header(&e->hdr, EV_EXEC, agent_id);
	e->start_ns = BPF_CORE_READ(current_task(), start_time);
	e->_pad = 0;

	off = offsetof(struct exec_event, data);
	n = bpf_probe_read_kernel_str(&s->buf[off], PATH_MAX_LEN, filename);
	if (n <= 0)
		n = 1;
	if (n == PATH_MAX_LEN)
		trunc = true;
	e->filename_len = n - 1;
	off += n - 1;
	e->argv_len = put_argv(s, off, &argc, &trunc);
	e->argc = argc;
	off += e->argv_len;
	if (trunc)
		e->hdr.flags |= EVF_TRUNCATED;
	submit(s, off, EV_EXEC);
	return 0;
}

/* Thread creation is not a process: only a new tgid inherits tracking. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(tp_btf_sched_process_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = parent->tgid, ctgid = child->tgid;
	struct tracked_proc *tp, inherited;
	struct fork_event *e;
	struct scratch *s;
	__u32 agent_id = AGENT_NONE;

	if (ptgid == ctgid)
		return 0;
	tp = bpf_map_lookup_elem(&tracked, &ptgid);
	if (!tp && !cfg_trace_all)
		return 0;
	if (ptgid == cfg_self_tgid)
		return 0;
	if (tp) {
		inherited = *tp;
		agent_id = inherited.agent_id;
		if (bpf_map_update_elem(&tracked, &ctgid, &inherited, BPF_ANY))
			count(COUNTER_TRACKED_FULL);
	}

	s = scratch_buf();
	if (!s)
		return 0;
	e = (struct fork_event *)s->buf;
	fill_header(&e->hdr, EV_FORK, agent_id);
	e->hdr.pid = ctgid;
	e->hdr.tid = child->pid;
	e->hdr.ppid = ptgid;
	/* clone(CLONE_NEWNET | CLONE_NEWNS) gives the child its own */
	e->hdr.netns = BPF_CORE_READ(child, nsproxy, net_ns, ns.inum);
	e->hdr.mntns = BPF_CORE_READ(child, nsproxy, mnt_ns, ns.inum);
	e->start_ns = child->start_time;
	submit(s, sizeof(*e), EV_FORK);
	return 0;
}

/*
 * The process is gone when its last thread exits (group_dead), which is
 * not always the leader: the leader dies first when another thread execs.
 * Kernels before the tracepoint had group_dead tell it by signal->live.
 */
static __always_inline bool group_dead(struct trace_event_raw_sched_process_exit *ctx)
{
	if (bpf_core_field_exists(ctx->group_dead))
		return BPF_CORE_READ(ctx, group_dead);
	return BPF_CORE_READ(current_task(), signal, live.counter) == 0;
}

SEC("tracepoint/sched/sched_process_exit")
int tp_sched_process_exit(struct trace_event_raw_sched_process_exit *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct exit_event *e;
	struct scratch *s;
	__u32 agent_id;

	if (!traced(tgid, &agent_id) || !group_dead(ctx))
		return 0;
	s = scratch_buf();
	if (s) {
		e = (struct exit_event *)s->buf;
		fill_header(&e->hdr, EV_EXIT, agent_id);
		e->exit_code = BPF_CORE_READ(current_task(), exit_code);
		e->_pad = 0;
		submit(s, sizeof(*e), EV_EXIT);
	}
	bpf_map_delete_elem(&tracked, &tgid);
	return 0;
}
