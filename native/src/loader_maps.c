// SPDX-License-Identifier: Apache-2.0
// The maps user space writes and reads while the sensor runs: agent rules,
// tracked processes, per-CPU counters.
#include <errno.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "events.h"
#include "loader_internal.h"
#include "sensor.skel.h"

static struct bpf_map *rule_map(struct sensor_loader *l, enum rule_kind kind)
{
	switch (kind) {
	case RULE_COMM: return l->skel->maps.rules_comm;
	case RULE_EXE: return l->skel->maps.rules_exe;
	case RULE_CGROUP: return l->skel->maps.rules_cgroup;
	}
	return NULL;
}

#define RULE_KEY_MAX (EXE_RULE_LEN > COMM_LEN ? EXE_RULE_LEN : COMM_LEN)

/*
 * Checks the sensor is started and builds the map's zero-padded key into
 * out (RULE_KEY_MAX bytes); string keys need room for a NUL.
 */
static int rule_key(struct sensor_loader *l, enum rule_kind kind, const void *key, size_t key_len,
		    char *out, size_t *out_len)
{
	struct bpf_map *map;
	size_t size;

	if (!l->skel)
		return loader_fail(l, ENOTCONN, "the sensor is not started");
	map = rule_map(l, kind);
	if (!map)
		return loader_fail(l, EINVAL, "unknown rule kind %d", (int)kind);
	size = bpf_map__key_size(map);
	if (size > RULE_KEY_MAX)
		return loader_fail(l, EINVAL, "rule map key larger than expected");
	if (kind == RULE_CGROUP ? key_len != size : key_len >= size)
		return loader_fail(l, EINVAL, "%s rule key is %zu bytes, the kernel map takes %s%zu",
			    kind == RULE_COMM ? "comm" : kind == RULE_EXE ? "exe" : "cgroup", key_len,
			    kind == RULE_CGROUP ? "" : "at most ", kind == RULE_CGROUP ? size : size - 1);
	memset(out, 0, size);
	memcpy(out, key, key_len);
	*out_len = size;
	return 0;
}

int loader_set_rule(struct sensor_loader *l, enum rule_kind kind, const void *key,
		    size_t key_len, uint32_t agent_id, uint32_t flags)
{
	char k[RULE_KEY_MAX];
	struct rule_value v = { .agent_id = agent_id, .flags = flags };
	size_t k_len = 0;
	int err;

	if ((err = rule_key(l, kind, key, key_len, k, &k_len)))
		return err;
	err = bpf_map__update_elem(rule_map(l, kind), k, k_len, &v, sizeof(v), BPF_ANY);
	if (err)
		return loader_fail(l, -err, err == -E2BIG ? "the rule map is full" : "adding the rule failed: %s",
			    strerror(-err));
	return 0;
}

int loader_delete_rule(struct sensor_loader *l, enum rule_kind kind, const void *key,
		       size_t key_len)
{
	char k[RULE_KEY_MAX];
	size_t k_len = 0;
	int err;

	if ((err = rule_key(l, kind, key, key_len, k, &k_len)))
		return err;
	err = bpf_map__delete_elem(rule_map(l, kind), k, k_len, 0);
	if (err && err != -ENOENT)
		return loader_fail(l, -err, "deleting the rule failed: %s", strerror(-err));
	return 0;
}

int loader_track(struct sensor_loader *l, uint32_t tgid, uint32_t agent_id, uint32_t flags,
		 uint64_t start_ns, uint32_t agent_pid)
{
	struct tracked_proc v = {
		.agent_id = agent_id, .flags = flags, .start_ns = start_ns, .agent_pid = agent_pid ? agent_pid : tgid,
	};
	int err;

	if (!l->skel)
		return loader_fail(l, ENOTCONN, "the sensor is not started");
	err = bpf_map__update_elem(l->skel->maps.tracked, &tgid, sizeof(tgid), &v, sizeof(v), BPF_ANY);
	if (err)
		return loader_fail(l, -err, err == -E2BIG ? "the tracked-process map is full"
						   : "tracking pid %u failed: %s", tgid, strerror(-err));
	return 0;
}

int loader_untrack(struct sensor_loader *l, uint32_t tgid)
{
	int err;

	if (!l->skel)
		return loader_fail(l, ENOTCONN, "the sensor is not started");
	err = bpf_map__delete_elem(l->skel->maps.tracked, &tgid, sizeof(tgid), 0);
	if (err && err != -ENOENT)
		return loader_fail(l, -err, "untracking pid %u failed: %s", tgid, strerror(-err));
	return 0;
}

/*
 * Look up, compare, then write with BPF_EXIST. The kernel can change the
 * entry between the lookup and the write only by deleting it (exit; the
 * write then fails with ENOENT) or by replacing it for a new incarnation,
 * which needs the pid to be freed and handed out again within these few
 * microseconds.
 */
int loader_decide(struct sensor_loader *l, uint32_t tgid, uint64_t expect_start_ns, uint32_t expect_agent_pid,
		  uint32_t agent_id, uint32_t new_agent_pid)
{
	struct tracked_proc v;
	int err;

	if (!l->skel)
		return loader_fail(l, ENOTCONN, "the sensor is not started");
	err = bpf_map__lookup_elem(l->skel->maps.tracked, &tgid, sizeof(tgid), &v, sizeof(v), 0);
	if (err == -ENOENT)
		return err;
	if (err)
		return loader_fail(l, -err, "looking up pid %u failed: %s", tgid, strerror(-err));
	if (v.agent_pid != expect_agent_pid || (expect_start_ns && v.start_ns && v.start_ns != expect_start_ns))
		return -ESTALE;
	if (agent_id == AGENT_NONE) {
		err = bpf_map__delete_elem(l->skel->maps.tracked, &tgid, sizeof(tgid), 0);
	} else {
		v.agent_id = agent_id;
		v.flags &= ~RULEF_CANDIDATE;
		v.agent_pid = new_agent_pid ? new_agent_pid : v.agent_pid;
		err = bpf_map__update_elem(l->skel->maps.tracked, &tgid, sizeof(tgid), &v, sizeof(v), BPF_EXIST);
	}
	if (err == -ENOENT)
		return err;
	if (err)
		return loader_fail(l, -err, "deciding pid %u failed: %s", tgid, strerror(-err));
	return 0;
}

int loader_tracked_entry(struct sensor_loader *l, uint32_t tgid, struct tracked_proc *out)
{
	int err;

	if (!l->skel)
		return loader_fail(l, ENOTCONN, "the sensor is not started");
	err = bpf_map__lookup_elem(l->skel->maps.tracked, &tgid, sizeof(tgid), out, sizeof(*out), 0);
	if (err)
		return err == -ENOENT ? err : loader_fail(l, -err, "looking up pid %u failed: %s", tgid, strerror(-err));
	return 0;
}

int loader_tracked_agent(struct sensor_loader *l, uint32_t tgid, uint32_t *agent_id)
{
	struct tracked_proc v;
	int err = loader_tracked_entry(l, tgid, &v);

	if (err)
		return err;
	*agent_id = v.agent_id;
	return 0;
}

static int sum_percpu(struct sensor_loader *l, struct bpf_map *map, uint32_t key, uint64_t *sum)
{
	size_t value_size = (size_t)l->ncpus * sizeof(*l->percpu);
	int cpu, err;

	err = bpf_map__lookup_elem(map, &key, sizeof(key), l->percpu, value_size, 0);
	if (err)
		return loader_fail(l, -err, "reading counter %u failed: %s", key, strerror(-err));
	*sum = 0;
	for (cpu = 0; cpu < l->ncpus; cpu++)
		*sum += l->percpu[cpu];
	return 0;
}

int loader_read_agent_untracked(struct sensor_loader *l, uint64_t *out, size_t n)
{
	uint32_t key;
	int err;

	if (!l->skel || !l->percpu)
		return loader_fail(l, ENOTCONN, "the sensor is not started");
	for (key = 0; key < n && key < AGENT_SLOTS; key++) {
		if ((err = sum_percpu(l, l->skel->maps.agent_untracked, key, &out[key])))
			return err;
	}
	return 0;
}

int loader_read_counters(struct sensor_loader *l, uint64_t *out, size_t n)
{
	size_t value_size = (size_t)l->ncpus * sizeof(*l->percpu);
	uint32_t key;
	int cpu, err;

	if (!l->skel || !l->percpu)
		return loader_fail(l, ENOTCONN, "the sensor is not started");
	for (key = 0; key < n && key < COUNTER_MAX; key++) {
		err = bpf_map__lookup_elem(l->skel->maps.counters, &key, sizeof(key), l->percpu,
					   value_size, 0);
		if (err)
			return loader_fail(l, -err, "reading counter %u failed: %s", key, strerror(-err));
		out[key] = 0;
		for (cpu = 0; cpu < l->ncpus; cpu++)
			out[key] += l->percpu[cpu];
	}
	return 0;
}
