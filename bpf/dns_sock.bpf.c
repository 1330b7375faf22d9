// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * DNS queries and answers of tracked processes at the socket level, on
 * their own UDP sockets only: the default. The syscall tracepoints of
 * dns_recv.bpf.c (read, recvfrom, recvmsg, recvmmsg) and net.bpf.c's write
 * hook are the fallback the loader attaches instead when these programs do
 * not load or attach (native/src/loader.c); they run on every read and
 * write of every process, these do not.
 *
 * cgroup/connect4|6 and cgroup/sendmsg4|6 run in the calling task on
 * connect() and on an unconnected send: a tracked process's UDP socket
 * talking to port 53 is registered there by its cookie, with the record
 * header of that moment (pid, tid, uid, cgroup, netns, mntns, comm: taken in
 * the task, since the packet programs run where the packet is, an answer in
 * softirq). cgroup_skb/egress (a datagram to port 53: the query) and
 * cgroup_skb/ingress (a datagram from port 53: the answer) then end at the
 * cookie lookup for every other socket. Attached at the cgroup v2 root they
 * see every network namespace.
 *
 * What differs from the syscall path: the header's tid/comm are those of
 * the thread that connected (or last sent to port 53 unconnected), not of
 * the one that read; fd is -1 (a packet has no fd); a socket created before
 * its process was tracked (an agent found by the /proc scan with a resolver
 * socket already open) is not registered and its DNS is not seen; an answer
 * the socket's filters later drop is still reported (it did arrive).
 */
#include "sock.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define ETH_P_IP    0x0800
#define ETH_P_IPV6  0x86DD
#define IPPROTO_UDP_ 17

struct dns_sock {
	struct event_header hdr; /* of the registering task; ts/size/flags set per packet */
	__u64 start_ns;          /* the tracked incarnation it belongs to */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* socket cookie */
	__type(value, struct dns_sock);
} dns_socks SEC(".maps");

static __always_inline int dns_register(struct bpf_sock_addr *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct tracked_proc *tp;
	struct dns_sock v;
	struct who w;
	__u64 cookie;

	if (ctx->type != SOCK_DGRAM || ctx->user_port != bpf_htons(DNS_PORT))
		return 1;
	tp = bpf_map_lookup_elem(&tracked, &tgid);
	if (!tp || tgid == cfg_self_tgid || !same_incarnation(tp, tgid))
		return 1;
	w.agent_id = tp->agent_id;
	w.agent_pid = tp->agent_pid;
	w.flags = tp->flags;
	__builtin_memset(&v, 0, sizeof(v));
	fill_header(&v.hdr, EV_DNS, &w);
	v.start_ns = tp->start_ns;
	cookie = bpf_get_socket_cookie(ctx);
	bpf_map_update_elem(&dns_socks, &cookie, &v, BPF_ANY);
	return 1;
}

SEC("cgroup/connect4")
int dns_sock_connect4(struct bpf_sock_addr *ctx)
{
	return dns_register(ctx);
}

SEC("cgroup/connect6")
int dns_sock_connect6(struct bpf_sock_addr *ctx)
{
	return dns_register(ctx);
}

SEC("cgroup/sendmsg4")
int dns_sock_sendmsg4(struct bpf_sock_addr *ctx)
{
	return dns_register(ctx);
}

SEC("cgroup/sendmsg6")
int dns_sock_sendmsg6(struct bpf_sock_addr *ctx)
{
	return dns_register(ctx);
}

/* A datagram of a registered socket to (egress) or from (ingress) port 53: a dns record. */
static __always_inline int dns_packet(struct __sk_buff *skb, bool ingress)
{
	__u64 cookie = bpf_get_socket_cookie(skb);
	struct dns_sock *ds = bpf_map_lookup_elem(&dns_socks, &cookie);
	struct tracked_proc *tp;
	struct udphdr uh;
	struct dns_event *e;
	struct scratch *s;
	__u32 l3, tgid, n;
	__u8 proto;

	if (!ds)
		return 1;
	s = scratch_buf();
	if (!s)
		return 1;
	e = (struct dns_event *)s->buf;
	__builtin_memset(e->addr, 0, sizeof(e->addr));
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)) || (ip.frag_off & bpf_htons(0x1fff)))
			return 1;
		l3 = ip.ihl * 4;
		proto = ip.protocol;
		e->family = AF_INET;
		__builtin_memcpy(e->addr, ingress ? &ip.saddr : &ip.daddr, 4);
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)))
			return 1;
		l3 = sizeof(ip6);
		proto = ip6.nexthdr;
		e->family = AF_INET6;
		__builtin_memcpy(e->addr, ingress ? &ip6.saddr : &ip6.daddr, 16);
	} else {
		return 1;
	}
	if (proto != IPPROTO_UDP_ || bpf_skb_load_bytes(skb, l3, &uh, sizeof(uh)))
		return 1;
	if ((ingress ? uh.source : uh.dest) != bpf_htons(DNS_PORT))
		return 1;
	/* Still that process, still tracked: its agent may have been decided since. */
	tgid = ds->hdr.pid;
	tp = bpf_map_lookup_elem(&tracked, &tgid);
	if (!tp || tp->start_ns != ds->start_ns)
		return 1;
	__builtin_memcpy(&e->hdr, &ds->hdr, sizeof(e->hdr));
	e->hdr.ts_ns = bpf_ktime_get_boot_ns();
	e->hdr.agent_id = tp->agent_id;
	e->hdr.agent_pid = tp->agent_pid;
	e->hdr.flags = tp->agent_id == AGENT_CANDIDATE ? EVF_PENDING : 0;
	e->fd = -1;
	e->port = DNS_PORT;
	e->flags = ingress ? DNSF_RESPONSE : 0;
	l3 += sizeof(uh);
	if (skb->len <= l3)
		return 1;
	n = skb->len - l3;
	if (n > DNS_PAYLOAD_MAX) {
		n = DNS_PAYLOAD_MAX;
		e->hdr.flags |= EVF_TRUNCATED;
	}
	/* [1, DNS_PAYLOAD_MAX] by construction: a form the verifier can use as a size. */
	n = ((n - 1) & (DNS_PAYLOAD_MAX - 1)) + 1;
	if (bpf_skb_load_bytes(skb, l3, e->data, n))
		return 1;
	e->payload_len = n;
	submit(s, offsetof(struct dns_event, data) + n, EV_DNS);
	return 1;
}

SEC("cgroup_skb/egress")
int dns_sock_egress(struct __sk_buff *skb)
{
	return dns_packet(skb, false);
}

SEC("cgroup_skb/ingress")
int dns_sock_ingress(struct __sk_buff *skb)
{
	return dns_packet(skb, true);
}
