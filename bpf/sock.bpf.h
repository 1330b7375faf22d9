/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Sockets: the struct sock behind an fd, destinations read from a user
 * sockaddr or from a connected socket, and the connect and dns records.
 * A destination is held in a struct dgram_key, which is also the key of
 * dgram_seen, so "have we reported this one" needs no copy.
 */
#ifndef AGENT_SENSOR_SOCK_BPF_H
#define AGENT_SENSOR_SOCK_BPF_H

#include "path.bpf.h"
#include <bpf/bpf_endian.h>

#define AF_UNIX    1
#define AF_INET    2
#define AF_INET6   10
#define SOCK_DGRAM 2
#define SOCK_RAW   3
#define S_IFMT     0170000
#define S_IFSOCK   0140000
#define DNS_PORT   53

/* Entry 0 is set by the loader after attach: 1 when dns_sock.bpf.c's
 * socket-level programs are attached and take DNS queries and answers; the
 * syscall hooks then leave DNS to them. (A map rather than a global: the
 * loader finds it by name, and objects without it still load.) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} dns_at_socket SEC(".maps") __weak;

static __always_inline bool dns_taken_at_socket(void)
{
	__u32 zero = 0;
	__u32 *on = bpf_map_lookup_elem(&dns_at_socket, &zero);

	return on && *on;
}

struct sock_info {
	struct sock *sk;
	__u16 type;
	__u16 protocol;
};

/* The socket open at fd, or false when fd is not a socket. */
static __always_inline bool fd_sock(int fd, struct sock_info *si)
{
	struct file *f = fd_file(current_task(), fd);
	struct socket *sock;
	struct sock *sk;

	if (!f || (BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return false;
	sock = BPF_CORE_READ(f, private_data);
	sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return false;
	si->sk = sk;
	si->type = BPF_CORE_READ(sk, sk_type);
	/* sk_protocol was an 8-bit bitfield before Linux 5.6 */
	si->protocol = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);
	return true;
}

/* Per-CPU room for one destination (the net programs do not walk paths). */
static __always_inline struct dgram_key *dest_buf(void)
{
	struct pathbuf *pb = pathbuf_get();

	if (!pb)
		return NULL;
	__builtin_memset(pb->buf, 0, sizeof(struct dgram_key));
	return (struct dgram_key *)pb->buf;
}

/* User sockaddr layouts (fixed ABI). */
struct user_sockaddr_in {
	__u16 family;
	__be16 port;
	__u8 addr[4];
};

struct user_sockaddr_in6 {
	__u16 family;
	__be16 port;
	__u32 flowinfo;
	__u8 addr[16];
};

/* User msghdr/iovec/mmsghdr layouts (fixed 64-bit ABI). */
struct user_msghdr64 {
	__u64 name;
	__s32 namelen;
	__u32 _pad;
	__u64 iov;
	__u64 iovlen;
	__u64 control;
	__u64 controllen;
	__u32 flags;
	__u32 _pad2;
};

struct user_iovec64 {
	__u64 base;
	__u64 len;
};

struct user_mmsghdr64 {
	struct user_msghdr64 hdr;
	__u32 len;
	__u32 _pad;
};

/* Fills d from a user sockaddr; false when it cannot be read. */
static __always_inline bool read_sockaddr(struct dgram_key *d, const void *uaddr, __u32 addrlen)
{
	__u16 family = 0;

	if (!uaddr || addrlen < 2 || bpf_probe_read_user(&family, sizeof(family), uaddr))
		return false;
	d->family = family;
	if (family == AF_INET) {
		struct user_sockaddr_in sin = {};

		bpf_probe_read_user(&sin, sizeof(sin), uaddr);
		d->port = bpf_ntohs(sin.port);
		__builtin_memcpy(d->addr, sin.addr, 4);
	} else if (family == AF_INET6) {
		struct user_sockaddr_in6 sin6 = {};

		bpf_probe_read_user(&sin6, sizeof(sin6), uaddr);
		d->port = bpf_ntohs(sin6.port);
		__builtin_memcpy(d->addr, sin6.addr, 16);
	} else if (family == AF_UNIX) {
		__u32 n = addrlen - 2;

		if (n > UNIX_PATH_LEN)
			n = UNIX_PATH_LEN;
		barrier_var(n); /* else clang drops the mask the verifier needs */
		n &= 127;
		bpf_probe_read_user(d->unix_path, n, uaddr + 2);
		if (d->unix_path[0]) {
			/* a filesystem name ends at its NUL, if it has one */
			long m = bpf_probe_read_user_str(d->unix_path, UNIX_PATH_LEN, uaddr + 2);

			if (m > 0 && m - 1 < n)
				n = m - 1;
		}
		d->path_len = n; /* abstract names (leading NUL) are all addrlen bytes */
	}
	return true;
}

/* Fills d with the peer of a connected inet socket; false when it has none. */
static __always_inline bool read_peer(struct dgram_key *d, struct sock *sk)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	__be16 dport = BPF_CORE_READ(sk, __sk_common.skc_dport);

	if (!dport)
		return false;
	d->family = family;
	d->port = bpf_ntohs(dport);
	if (family == AF_INET) {
		__be32 daddr = BPF_CORE_READ(sk, __sk_common.skc_daddr);

		__builtin_memcpy(d->addr, &daddr, 4);
	} else if (family == AF_INET6) {
		BPF_CORE_READ_INTO(&d->addr, sk, __sk_common.skc_v6_daddr);
	} else {
		return false;
	}
	return true;
}

/* Returns whether the record reached the ring buffer. */
static __always_inline bool emit_connect(struct dgram_key *d, int fd, int result, __u32 flags,
					 struct sock_info *si, const struct who *w)
{
	struct scratch *s = scratch_buf();
	struct connect_event *e;

	if (!s)
		return false;
	e = (struct connect_event *)s->buf;
	fill_header(&e->hdr, EV_CONNECT, w);
	e->result = result;
	e->fd = fd;
	e->family = d->family;
	e->port = d->port;
	e->protocol = si ? si->protocol : 0;
	e->sock_type = si ? si->type : 0;
	e->flags = flags;
	e->path_len = d->path_len;
	__builtin_memcpy(e->addr, d->addr, sizeof(e->addr));
	__builtin_memcpy(e->unix_path, d->unix_path, sizeof(e->unix_path));
	e->_pad = 0;
	return submit(s, sizeof(*e), EV_CONNECT);
}

static __always_inline bool is_dns(struct dgram_key *d, struct sock_info *si)
{
	return si->type == SOCK_DGRAM && d->port == DNS_PORT && (d->family == AF_INET || d->family == AF_INET6);
}

/* A DNS message as sent or received (flags: DNSF_*): up to DNS_PAYLOAD_MAX
 * bytes of the user buffer. */
static __always_inline void emit_dns(struct dgram_key *d, int fd, const void *payload, __u64 len, __u32 flags,
				     const struct who *w)
{
	struct scratch *s = scratch_buf();
	struct dns_event *e;
	__u32 n = len > DNS_PAYLOAD_MAX ? DNS_PAYLOAD_MAX : len;

	if (!s || !payload)
		return;
	e = (struct dns_event *)s->buf;
	fill_header(&e->hdr, EV_DNS, w);
	e->fd = fd;
	e->family = d->family;
	e->port = d->port;
	__builtin_memcpy(e->addr, d->addr, sizeof(e->addr));
	e->flags = flags;
	if (len > DNS_PAYLOAD_MAX)
		e->hdr.flags |= EVF_TRUNCATED;
	barrier_var(n);
	n &= 2 * DNS_PAYLOAD_MAX - 1;
	if (bpf_probe_read_user(e->data, n, payload))
		n = 0;
	e->payload_len = n;
	submit(s, offsetof(struct dns_event, data) + n, EV_DNS);
}

#endif /* AGENT_SENSOR_SOCK_BPF_H */
