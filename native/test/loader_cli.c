// SPDX-License-Identifier: Apache-2.0
// Drives the loader without Node (test/native.test.ts builds it against
// mini.bpf.c): start, print what was left out, exercise the maps, stop.
// Prints "error <errno-name> <message>" and exits 1 when start fails.
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "events.h"
#include "loader.h"

static int on_record(void *ctx, const void *data, size_t size)
{
	return 0;
}

int main(void)
{
	struct loader_config cfg = { .ring_bytes = 4096, .self_tgid = (uint32_t)getpid() };
	struct sensor_loader *l = loader_new();
	uint64_t counters[COUNTER_MAX];
	uint32_t agent = 0;
	int err;

	err = loader_start(l, &cfg, on_record, NULL);
	if (err) {
		printf("error %s %s\n", strerrorname_np(-err), loader_error(l));
		loader_destroy(l);
		return 1;
	}
	for (size_t i = 0; i < loader_unavailable_count(l); i++)
		printf("unavailable %s\n", loader_unavailable_name(l, i));
	printf("track %d\n", loader_track(l, 42, 7, 0, 0, 0));
	err = loader_tracked_agent(l, 42, &agent);
	printf("tracked_agent %d %u\n", err, agent);
	printf("untracked_agent %d\n", loader_tracked_agent(l, 43, &agent));
	printf("rule %d\n", loader_set_rule(l, RULE_COMM, "python3", 7, 3, RULEF_CANDIDATE));
	printf("rule_too_long %d\n", loader_set_rule(l, RULE_COMM, "sixteen-bytes-xx", 16, 3, 0));
	printf("counters %d\n", loader_read_counters(l, counters, COUNTER_MAX));
	printf("poll %d\n", loader_poll(l, 1));
	loader_destroy(l);
	return 0;
}
