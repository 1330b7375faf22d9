/* Shared between egress.bpf.c (kernel) and native/egress/egress-ctl.c (user):
 * the record of one contained process. Plain fixed-size types only. */
#ifndef AGENT_SENSOR_EGRESS_H
#define AGENT_SENSOR_EGRESS_H

/* What the kernel does with an egress attempt of a contained process. */
enum egress_mode {
	EGRESS_MODE_DENY = 1,   /* refuse: connect/sendmsg fail with EPERM */
	EGRESS_MODE_SHADOW = 2, /* count as would_deny, let it through */
};

/* Value of the `contained` map, keyed by tgid. Children inherit it at fork. */
struct egress_entry {
	__u32 root_pid;  /* the agent instance (agentPid) this process belongs to */
	__u32 mode;      /* enum egress_mode */
	__u64 since_ns;  /* CLOCK_BOOTTIME ns when this process became contained */
	__u64 denied;    /* egress attempts refused (or, in shadow mode, that would have been) */
	__u64 allowed_loopback; /* loopback connects/sends let through by the port list */
};

/* Indexes of the per-CPU `counters` array. */
enum egress_counter {
	EGRESS_CNT_CONNECT4 = 0,
	EGRESS_CNT_CONNECT6,
	EGRESS_CNT_SENDMSG4,
	EGRESS_CNT_SENDMSG6,
	EGRESS_CNT_SOCK_CREATE,
	EGRESS_CNT_SHADOW,
	EGRESS_CNT_FORK_INHERITED,
	EGRESS_CNT_MAP_FULL,
	EGRESS_CNT_MAX,
};

#endif
