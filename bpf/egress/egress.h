/* Shared between egress.bpf.c (kernel) and native/egress/egress-ctl.c (user):
 * the record of one contained process. Plain fixed-size types only. */
#ifndef AGENT_SENSOR_EGRESS_H
#define AGENT_SENSOR_EGRESS_H

/* What the kernel does with an egress attempt of a contained process. */
enum egress_mode {
	EGRESS_MODE_DENY = 1,   /* refuse: connect/sendmsg fail with EPERM */
	EGRESS_MODE_SHADOW = 2, /* count as would_deny, let it through */
	EGRESS_MODE_GRANTS = 3, /* refuse what is outside the instance's grants */
	EGRESS_MODE_GRANTS_SHADOW = 4, /* count what is outside the grants as would_deny */
};

/* Key of the `grants` LPM trie: prefixlen counts the policy's 32 bits plus the
 * address bits; IPv4 is stored v4-mapped (::ffff:a.b.c.d). */
struct grant_key {
	__u32 prefixlen;
	__u32 policy;
	__u8 addr[16];
};

#define GRANT_PORT_RANGES 8
/* Ports a grant allows: up to eight ranges; lo == 0 && hi == 0 ends the list.
 * The trie answers the longest match only, so user space copies the ranges
 * of covering (shorter) prefixes into every longer one. */
struct grant_value {
	__u16 lo[GRANT_PORT_RANGES];
	__u16 hi[GRANT_PORT_RANGES];
};

enum egress_verdict {
	EGRESS_VERDICT_DENIED = 1,
	EGRESS_VERDICT_WOULD_DENY = 2,
};

/* One destination an instance was refused (or would have been), and how often. */
struct verdict_key {
	__u32 root_pid;
	__u16 port;     /* host order */
	__u8 proto;     /* IPPROTO_TCP, IPPROTO_UDP, or 0 for a socket refused at creation */
	__u8 verdict;   /* enum egress_verdict */
	__u8 addr[16];  /* IPv4 v4-mapped */
};

struct verdict_value {
	__u64 count;
	__u64 last_ns; /* CLOCK_BOOTTIME */
};

/* Value of the `contained` map, keyed by tgid. Children inherit it at fork. */
struct egress_entry {
	__u32 root_pid;  /* the agent instance (agentPid) this process belongs to */
	__u32 mode;      /* enum egress_mode */
	__u64 since_ns;  /* CLOCK_BOOTTIME ns when this process became contained */
	__u64 denied;    /* egress attempts refused (or, in shadow mode, that would have been) */
	__u64 allowed_loopback; /* loopback connects/sends let through by the port list */
	__u32 policy;    /* grants policy id (modes 3 and 4) */
	__u32 _pad;
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
	EGRESS_CNT_GRANTED,
	EGRESS_CNT_VERDICTS_FULL,
	EGRESS_CNT_MAX,
};

#endif
