/* SPDX-License-Identifier: Apache-2.0 */
/* What loader.c (lifecycle) and loader_maps.c (maps) share; not an API. */
#ifndef AGENT_SENSOR_LOADER_INTERNAL_H
#define AGENT_SENSOR_LOADER_INTERNAL_H

#include "loader.h"

#define ERR_LEN 8192

struct sensor_loader {
	struct sensor_bpf *skel;
	struct ring_buffer *rb;
	struct bpf_link **links;
	size_t n_links;
	char **unavailable;
	size_t n_unavailable;
	uint64_t *percpu;          /* scratch for one per-CPU counter */
	int ncpus;
	loader_record_fn on_record;
	void *ctx;
	char err[ERR_LEN];
};

/* Formats the message into l->err and returns -err, so callers can
 * `return loader_fail(...)`. */
int loader_fail(struct sensor_loader *l, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif /* AGENT_SENSOR_LOADER_INTERNAL_H */
