/* Shared between content.bpf.c (kernel) and native/content/content-ctl.c
 * (user): the records of captured egress/ingress content. Plain fixed-size
 * types only; the layout is read by sensor/content/content-records.ts. */
#ifndef AGENT_SENSOR_CONTENT_H
#define AGENT_SENSOR_CONTENT_H

/* The largest capture of one write/read (the configured bound is <= this). */
#define CONTENT_MAX_WRITE 16384

enum content_kind {
	CONTENT_KIND_DATA = 1, /* bytes of one write/read */
	CONTENT_KIND_BIND = 2, /* a TLS stream (conn_id = SSL*) is carried by socket sk (in data: nothing) */
};

enum content_source {
	CONTENT_SOURCE_SOCKET = 1,
	CONTENT_SOURCE_TLS = 2,
};

enum content_direction {
	CONTENT_EGRESS = 1,
	CONTENT_INGRESS = 2,
};

enum content_flags {
	CONTENT_FLAG_BUDGET = 1, /* the connection's budget ran out with this chunk: no more records */
	CONTENT_FLAG_UDP = 2,
};

/* 72 bytes, then `len` bytes of data. */
struct content_hdr {
	__u64 ktime_ns;    /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	__u64 conn_id;     /* sockets: the socket cookie (socket level) or struct sock * (syscall fallback); TLS: SSL * */
	__u64 stream_off;  /* bytes of this direction seen before, captured or not */
	__u64 sock_id;     /* BIND: the socket (cookie or struct sock *) carrying the SSL stream; DATA socket: = conn_id */
	__u32 tgid;
	__u32 tid;
	__u32 len;         /* bytes that follow */
	__u32 orig_len;    /* bytes of the write/read (socket level: of the packet's new
			    * payload); orig_len - len were cut */
	__u8 kind;         /* enum content_kind */
	__u8 source;       /* enum content_source */
	__u8 direction;    /* enum content_direction */
	__u8 flags;        /* enum content_flags */
	__u16 family;      /* AF_INET / AF_INET6 of the socket (0: unknown) */
	__u16 dport;       /* the peer's port, host order (ingress packets: their source) */
	__u8 daddr[16];    /* the peer's address, IPv4 in the first 4 bytes */
};

struct content_rec {
	struct content_hdr h;
	__u8 data[CONTENT_MAX_WRITE];
};

/* Indexes of the per-CPU `counters` array. */
enum content_counter {
	CONTENT_CNT_RECORDS = 0,
	CONTENT_CNT_BYTES,          /* captured */
	CONTENT_CNT_CUT_WRITE,      /* bytes over the per-write bound */
	CONTENT_CNT_CUT_CONN,       /* bytes after a connection's budget */
	CONTENT_CNT_LOST_RECORDS,   /* ring full */
	CONTENT_CNT_LOST_BYTES,
	CONTENT_CNT_READ_FAULTS,    /* bpf_probe_read_user failed */
	CONTENT_CNT_TLS_SOCKETS,    /* socket streams (each direction) left out because they carry TLS (seen via SSL_*) */
	CONTENT_CNT_TRACKED_FULL,
	CONTENT_CNT_RETRANS_BYTES,  /* socket level: TCP bytes seen again (retransmits; arriving, also duplicates and
				     * late segments), not captured twice */
	CONTENT_CNT_SOCKETS,        /* socket level: agent sockets registered at connect/sendmsg */
	CONTENT_CNT_MAX,
};

#endif
