// SPDX-License-Identifier: GPL-2.0
/* Network containment of agent instances (`sensor isolate`).
 *
 * A separate object from the sensor's (the bpf/ directory): it is loaded by the
 * small native/egress/egress-ctl tool, attached to the ROOT of the cgroup v2
 * hierarchy and pinned under /sys/fs/bpf/agent-sensor/egress, so it works for
 * every agent (launched in a cgroup of its own or matched by a rule anywhere),
 * keeps working while no sensor runs, and survives a sensor restart.
 *
 * Who is contained is a hash map keyed by tgid. The programs run in the
 * context of the task calling connect()/sendmsg(), so the decision follows
 * the PROCESS, not the socket's cgroup: a socket created before isolation is
 * caught as well. A fork of a contained process inherits its entry in the
 * kernel (tp_btf/sched_process_fork) before the child can run, and the entry
 * goes when the last thread of the process exits.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "egress.h"

#ifndef IPPROTO_ICMPV6
#define IPPROTO_ICMPV6 58 /* a #define in the uapi, absent from vmlinux.h */
#endif

#define MAX_CONTAINED 16384

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_CONTAINED);
	__type(key, __u32);
	__type(value, struct egress_entry);
} contained SEC(".maps");

/* Loopback ports (host order) a contained process may still reach. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u16);
	__type(value, __u8);
} loopback_ports SEC(".maps");

/* Destinations granted per policy (an agent's `connect` grants). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16384);
	__type(key, struct grant_key);
	__type(value, struct grant_value);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} grants SEC(".maps");

/* What each instance was refused or would have been: the report of shadow
 * mode and the evidence of enforcement. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct verdict_key);
	__type(value, struct verdict_value);
} verdicts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, EGRESS_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

#define ALLOW 1
#define REFUSE 0 /* the syscall fails with EPERM */

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);
	if (v)
		*v += 1;
}

static __always_inline struct egress_entry *current_entry(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	return bpf_map_lookup_elem(&contained, &tgid);
}

/* port is in network order in the 32-bit user_port field */
static __always_inline int loopback_port_open(__u16 port)
{
	return bpf_map_lookup_elem(&loopback_ports, &port) != NULL;
}

/* A destination as the maps key it: 16 address bytes (IPv4 v4-mapped), host-order port. */
struct dest {
	__u8 addr[16];
	__u16 port;
	__u8 proto;
	__u8 loopback;
};

static __always_inline int granted(struct egress_entry *e, struct dest *d)
{
	struct grant_key k = { .prefixlen = 32 + 128, .policy = e->policy };
	__builtin_memcpy(k.addr, d->addr, 16);
	struct grant_value *g = bpf_map_lookup_elem(&grants, &k);
	if (!g)
		return 0;
#pragma unroll
	for (int i = 0; i < GRANT_PORT_RANGES; i++) {
		if (g->lo[i] == 0 && g->hi[i] == 0)
			break;
		if (d->port >= g->lo[i] && d->port <= g->hi[i])
			return 1;
	}
	return 0;
}

static __always_inline void note_verdict(struct egress_entry *e, struct dest *d, __u8 verdict)
{
	struct verdict_key k = { .root_pid = e->root_pid, .port = d->port, .proto = d->proto, .verdict = verdict };
	__builtin_memcpy(k.addr, d->addr, 16);
	struct verdict_value *v = bpf_map_lookup_elem(&verdicts, &k);
	if (v) {
		__sync_fetch_and_add(&v->count, 1);
		v->last_ns = bpf_ktime_get_boot_ns();
		return;
	}
	struct verdict_value nv = { .count = 1, .last_ns = bpf_ktime_get_boot_ns() };
	if (bpf_map_update_elem(&verdicts, &k, &nv, BPF_NOEXIST) == -7 /* E2BIG: full */)
		count(EGRESS_CNT_VERDICTS_FULL);
}

static __always_inline int decide(struct egress_entry *e, struct dest *d, __u32 counter)
{
	if (d->loopback && loopback_port_open(d->port)) {
		__sync_fetch_and_add(&e->allowed_loopback, 1);
		return ALLOW;
	}
	__u32 mode = e->mode;
	if ((mode == EGRESS_MODE_GRANTS || mode == EGRESS_MODE_GRANTS_SHADOW) && granted(e, d)) {
		count(EGRESS_CNT_GRANTED);
		return ALLOW;
	}
	__sync_fetch_and_add(&e->denied, 1);
	if (mode == EGRESS_MODE_SHADOW || mode == EGRESS_MODE_GRANTS_SHADOW) {
		note_verdict(e, d, EGRESS_VERDICT_WOULD_DENY);
		count(EGRESS_CNT_SHADOW);
		return ALLOW;
	}
	note_verdict(e, d, EGRESS_VERDICT_DENIED);
	count(counter);
	return REFUSE;
}

static __always_inline int v4_loopback(__u32 ip_be)
{
	return (bpf_ntohl(ip_be) >> 24) == 127;
}

/* ::1 and ::ffff:127.0.0.0/104 */
static __always_inline int v6_loopback(__u32 *w)
{
	if (w[0] || w[1])
		return 0;
	if (w[2] == 0 && w[3] == bpf_htonl(1))
		return 1;
	return w[2] == bpf_htonl(0x0000ffff) && v4_loopback(w[3]);
}

static __always_inline void dest4(struct dest *d, __u32 ip_be, __u32 port_be, __u32 proto)
{
	__builtin_memset(d, 0, sizeof(*d));
	d->addr[10] = 0xff;
	d->addr[11] = 0xff;
	__builtin_memcpy(&d->addr[12], &ip_be, 4);
	d->port = bpf_ntohs((__u16)port_be);
	d->proto = proto;
	d->loopback = v4_loopback(ip_be);
}

static __always_inline void dest6(struct dest *d, struct bpf_sock_addr *ctx, __u32 port_be, __u32 proto)
{
	__builtin_memset(d, 0, sizeof(*d));
	__u32 w[4] = { ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2], ctx->user_ip6[3] };
	__builtin_memcpy(d->addr, w, 16);
	d->port = bpf_ntohs((__u16)port_be);
	d->proto = proto;
	d->loopback = v6_loopback(w);
}

/* Fields are read into locals first: the verifier refuses a ctx pointer the
 * compiler moved, and barrier_var keeps it from moving. */
SEC("cgroup/connect4")
int egress_connect4(struct bpf_sock_addr *ctx)
{
	struct egress_entry *e = current_entry();
	if (!e)
		return ALLOW;
	__u32 ip = ctx->user_ip4, port = ctx->user_port, proto = ctx->protocol;
	barrier_var(port);
	struct dest d;
	dest4(&d, ip, port, proto);
	return decide(e, &d, EGRESS_CNT_CONNECT4);
}

SEC("cgroup/connect6")
int egress_connect6(struct bpf_sock_addr *ctx)
{
	struct egress_entry *e = current_entry();
	if (!e)
		return ALLOW;
	__u32 port = ctx->user_port, proto = ctx->protocol;
	barrier_var(port);
	struct dest d;
	dest6(&d, ctx, port, proto);
	return decide(e, &d, EGRESS_CNT_CONNECT6);
}

SEC("cgroup/sendmsg4")
int egress_sendmsg4(struct bpf_sock_addr *ctx)
{
	struct egress_entry *e = current_entry();
	if (!e)
		return ALLOW;
	__u32 ip = ctx->user_ip4, port = ctx->user_port, proto = ctx->protocol;
	barrier_var(port);
	struct dest d;
	dest4(&d, ip, port, proto);
	return decide(e, &d, EGRESS_CNT_SENDMSG4);
}

SEC("cgroup/sendmsg6")
int egress_sendmsg6(struct bpf_sock_addr *ctx)
{
	struct egress_entry *e = current_entry();
	if (!e)
		return ALLOW;
	__u32 port = ctx->user_port, proto = ctx->protocol;
	barrier_var(port);
	struct dest d;
	dest6(&d, ctx, port, proto);
	return decide(e, &d, EGRESS_CNT_SENDMSG6);
}

/* Raw and ICMP (ping) sockets do not pass through the sock_addr hooks above:
 * a contained process may not create them. */
SEC("cgroup/sock_create")
int egress_sock_create(struct bpf_sock *sk)
{
	struct egress_entry *e = current_entry();
	if (!e)
		return ALLOW;
	if (sk->type == SOCK_RAW || sk->protocol == IPPROTO_ICMP || sk->protocol == IPPROTO_ICMPV6) {
		__sync_fetch_and_add(&e->denied, 1);
		if (e->mode == EGRESS_MODE_SHADOW || e->mode == EGRESS_MODE_GRANTS_SHADOW) {
			count(EGRESS_CNT_SHADOW);
			return ALLOW;
		}
		count(EGRESS_CNT_SOCK_CREATE);
		return REFUSE;
	}
	return ALLOW;
}

/* Runs in the parent before the child is woken: the child can make no
 * syscall uncontained. Threads share the tgid and need no entry. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(egress_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	__u32 ctgid = BPF_CORE_READ(child, tgid);
	if (ptgid == ctgid)
		return 0;
	struct egress_entry *e = bpf_map_lookup_elem(&contained, &ptgid);
	if (!e)
		return 0;
	struct egress_entry c = { .root_pid = e->root_pid, .mode = e->mode, .policy = e->policy, .since_ns = bpf_ktime_get_boot_ns() };
	if (bpf_map_update_elem(&contained, &ctgid, &c, BPF_ANY))
		count(EGRESS_CNT_MAP_FULL);
	else
		count(EGRESS_CNT_FORK_INHERITED);
	return 0;
}

/* The last thread of a process going: its tgid may be reused, drop it. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(egress_exit, struct task_struct *p)
{
	__u32 tgid = BPF_CORE_READ(p, tgid);
	if (BPF_CORE_READ(p, signal, live.counter) != 0)
		return 0;
	bpf_map_delete_elem(&contained, &tgid);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
