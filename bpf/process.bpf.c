// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Process lifecycle: exec decides whether a process is an agent (the
 * in-kernel filter), fork hands that decision to children, exit forgets it.
 * Every tracked entry is bound to its process incarnation (start_boottime)
 * and names the root of its agent instance (agent_pid).
 */
#include "path.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Room for an exact, zero-padded rules_exe key past every record piece. */
#define EXE_KEY_OFF (SCRATCH_SIZE - EXE_RULE_LEN)

static __always_inline void count_untracked(__u32 agent_id)
{
	__u32 slot = agent_id == AGENT_CANDIDATE ? 0 : agent_id & AGENT_SLOT_MASK;
	__u64 *c = bpf_map_lookup_elem(&agent_untracked, &slot);

	count(COUNTER_TRACKED_FULL);
	if (c)
		*c += 1;
}

/* rules_exe lookup of len bytes at src (a kernel buffer), zero-padded. */
static __always_inline struct rule_value *exe_rule(struct scratch *s, const void *src, __u32 len)
{
	__u8 *key = &s->buf[EXE_KEY_OFF];

	if (len == 0 || len >= EXE_RULE_LEN) /* longer than any key can be */
		return NULL;
	__builtin_memset(key, 0, EXE_RULE_LEN);
	if (bpf_probe_read_kernel(key, len & (EXE_RULE_LEN - 1), src))
		return NULL;
	return bpf_map_lookup_elem(&rules_exe, key);
}

/*
 * The rule an exec'ing process matches: the file the kernel executed (its
 * resolved path, so `./agent`, a symlink or `a//agent` match the rule for
 * /path/to/agent), then the name it was executed by, its new comm, its
 * cgroup. exe/exe_len: the resolved path, already walked.
 */
static __always_inline struct rule_value *match_rules(struct scratch *s, const void *filename, const void *exe,
						      __u32 exe_len)
{
	struct rule_value *rule = exe_rule(s, exe, exe_len);

	if (!rule) {
		__u8 *key = &s->buf[EXE_KEY_OFF];
		long n;

		__builtin_memset(key, 0, EXE_RULE_LEN);
		n = bpf_probe_read_kernel_str(key, EXE_RULE_LEN, filename);
		if (n > 0 && n < EXE_RULE_LEN)
			rule = bpf_map_lookup_elem(&rules_exe, key);
	}
	if (!rule) {
		char comm[COMM_LEN] = {};

		bpf_get_current_comm(comm, sizeof(comm));
		rule = bpf_map_lookup_elem(&rules_comm, comm);
	}
	if (!rule) {
		__u64 cgid = bpf_get_current_cgroup_id();

		rule = bpf_map_lookup_elem(&rules_cgroup, &cgid);
	}
	return rule;
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
	struct task_struct *task = current_task();
	struct file *exe_file = BPF_CORE_READ(task, mm, exe_file);
	__u64 start = BPF_CORE_READ(task, start_boottime); /* de_thread made us the leader */
	struct tracked_proc *tp, fresh = {};
	struct rule_value *rule = NULL;
	struct who w = {};
	struct exec_event *e;
	struct scratch *s;
	__u32 off, exe_off, argc = 0;
	__u16 hflags = 0;
	bool trunc = false, exe_trunc = false;
	long n;

	if (tgid == cfg_self_tgid)
		return 0;
	s = scratch_buf();
	if (!s)
		return 0;
	tp = bpf_map_lookup_elem(&tracked, &tgid);
	if (tp && tp->start_ns && tp->start_ns != start) {
		bpf_map_delete_elem(&tracked, &tgid); /* a dead incarnation's entry */
		count(COUNTER_STALE);
		tp = NULL;
	}

	/* The record's pieces first: the executed file's path is also what
	 * exe rules are matched against. */
	e = (struct exec_event *)s->buf;
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
	exe_off = off;
	e->exe_len = 0;
	if (exe_file) {
		e->exe_len = put_path(s, off, BPF_CORE_READ(exe_file, f_path.mnt), BPF_CORE_READ(exe_file, f_path.dentry),
				      &exe_trunc);
		off += e->exe_len;
	}

	if (tp) {
		/* agents re-exec themselves: stay tracked */
		if (!tp->start_ns)
			tp->start_ns = start;
		w.agent_id = tp->agent_id;
		w.agent_pid = tp->agent_pid;
		w.flags = tp->flags;
	} else {
		rule = match_rules(s, filename, &s->buf[exe_off & SCRATCH_PIECE_MASK], exe_trunc ? 0 : e->exe_len);
		if (rule) {
			fresh.agent_id = (rule->flags & RULEF_CANDIDATE) ? AGENT_CANDIDATE : rule->agent_id;
			fresh.flags = rule->flags;
			fresh.start_ns = start;
			fresh.agent_pid = tgid;
			w.agent_id = fresh.agent_id;
			w.agent_pid = tgid;
			w.flags = fresh.flags;
			if (bpf_map_update_elem(&tracked, &tgid, &fresh, BPF_ANY)) {
				count_untracked(fresh.agent_id);
				hflags |= EVF_UNTRACKED; /* named an agent, but nothing of it will follow */
			}
		} else if (!cfg_trace_all) {
			return 0;
		}
	}

	fill_header(&e->hdr, EV_EXEC, &w);
	e->hdr.flags |= hflags;
	e->start_ns = start;
	if (exe_trunc)
		trunc = true;
	e->cwd_len = put_dir_of(s, off, AT_FDCWD, &trunc);
	off += e->cwd_len;
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
	struct who w = {};
	__u16 hflags = 0;

	if (ptgid == ctgid)
		return 0;
	tp = bpf_map_lookup_elem(&tracked, &ptgid);
	if (!tp && !cfg_trace_all)
		return 0;
	if (ptgid == cfg_self_tgid)
		return 0;
	if (tp && !same_incarnation(tp, ptgid)) {
		if (!cfg_trace_all)
			return 0;
		tp = NULL;
	}
	if (tp) {
		inherited = *tp;
		inherited.flags &= ~TPF_COMPAT;
		inherited.start_ns = child->start_boottime;
		w.agent_id = inherited.agent_id;
		w.agent_pid = inherited.agent_pid;
		w.flags = inherited.flags;
		if (bpf_map_update_elem(&tracked, &ctgid, &inherited, BPF_ANY)) {
			count_untracked(inherited.agent_id);
			hflags |= EVF_UNTRACKED;
		}
	}

	s = scratch_buf();
	if (!s)
		return 0;
	e = (struct fork_event *)s->buf;
	fill_header(&e->hdr, EV_FORK, &w);
	e->hdr.flags |= hflags;
	e->hdr.pid = ctgid;
	e->hdr.tid = child->pid;
	e->hdr.ppid = ptgid;
	/* clone(CLONE_NEWNET | CLONE_NEWNS) gives the child its own */
	e->hdr.netns = BPF_CORE_READ(child, nsproxy, net_ns, ns.inum);
	e->hdr.mntns = BPF_CORE_READ(child, nsproxy, mnt_ns, ns.inum);
	e->start_ns = child->start_boottime;
	submit(s, sizeof(*e), EV_FORK);
	return 0;
}

#define SIGNAL_GROUP_EXIT 0x00000004

/*
 * The process is gone when its last thread exits (group_dead), which is
 * not always the leader: the leader dies first when another thread execs.
 * Kernels before the tracepoint had group_dead tell it by signal->live,
 * which two threads exiting together can both read as 0; there the
 * deletion of the tracked entry below decides which one reports.
 */
static __always_inline bool group_dead(struct trace_event_raw_sched_process_exit *ctx, bool *exact)
{
	*exact = bpf_core_field_exists(ctx->group_dead);
	if (*exact)
		return BPF_CORE_READ(ctx, group_dead);
	return BPF_CORE_READ(current_task(), signal, live.counter) == 0;
}

/* A group exit's code is the group's, whichever thread reports it. */
static __always_inline __u32 exit_status(void)
{
	struct signal_struct *sig = BPF_CORE_READ(current_task(), signal);

	if (BPF_CORE_READ(sig, flags) & SIGNAL_GROUP_EXIT)
		return BPF_CORE_READ(sig, group_exit_code);
	return BPF_CORE_READ(current_task(), exit_code);
}

SEC("tracepoint/sched/sched_process_exit")
int tp_sched_process_exit(struct trace_event_raw_sched_process_exit *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct exit_event *e;
	struct scratch *s;
	struct who w;
	bool exact;

	if (!traced(tgid, &w))
		return 0;
	if (!group_dead(ctx, &exact))
		return 0;
	/* Only the thread that removes a tracked entry reports: one exit per
	 * process, even where two threads both read signal->live as 0. */
	if (bpf_map_delete_elem(&tracked, &tgid) && (w.agent_id != AGENT_NONE || w.agent_pid))
		return 0;
	s = scratch_buf();
	if (!s)
		return 0;
	e = (struct exit_event *)s->buf;
	fill_header(&e->hdr, EV_EXIT, &w);
	if (w.flags & TPF_COMPAT)
		e->hdr.flags |= EVF_COMPAT;
	e->exit_code = exit_status();
	e->_pad = 0;
	submit(s, sizeof(*e), EV_EXIT);
	return 0;
}

/*
 * 32-bit syscalls (int $0x80, or a 32-bit binary) go through the compat
 * table, which the syscalls:sys_enter_* tracepoints do not see. We cannot
 * decode them here, but a tracked process that makes one is flagged: its
 * exit record carries EVF_COMPAT and COUNTER_COMPAT counts the calls.
 * Every other thread pays a read of its own thread_info, no map lookup.
 */
#define TS_COMPAT 0x0002
SEC("tracepoint/raw_syscalls/sys_enter")
int tp_raw_sys_enter(struct trace_event_raw_sys_enter *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct tracked_proc *tp;
	__u32 tgid;

	/* a BTF pointer: a plain load, no helper call, on every syscall */
	if (!bpf_core_field_exists(task->thread_info.status) || !(task->thread_info.status & TS_COMPAT))
		return 0;
	tgid = bpf_get_current_pid_tgid() >> 32;
	tp = bpf_map_lookup_elem(&tracked, &tgid);
	if (!tp)
		return 0;
	tp->flags |= TPF_COMPAT;
	count(COUNTER_COMPAT);
	return 0;
}
