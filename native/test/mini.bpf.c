// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
// A minimal kernel side with the maps and globals the loader expects, used
// by test/native.test.ts to drive the loader through cases the real
// programs never hit here: a tracepoint this kernel lacks, and (built with
// -DVERIFIER_REJECTS) a program the verifier refuses.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "events.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __u32 cfg_trace_all = 0;
const volatile __u32 cfg_self_tgid = 0;
const volatile __u32 cfg_wakeup_shift = 0;
const volatile __u32 cfg_open_entry = 0;

struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 64); __type(key, __u32); __type(value, struct tracked_proc); } tracked SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 8); __type(key, char[COMM_LEN]); __type(value, struct rule_value); } rules_comm SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 8); __type(key, char[EXE_RULE_LEN]); __type(value, struct rule_value); } rules_exe SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 8); __type(key, __u64); __type(value, struct rule_value); } rules_cgroup SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); } events SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, COUNTER_MAX); __type(key, __u32); __type(value, __u64); } counters SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, AGENT_SLOTS); __type(key, __u32); __type(value, __u64); } agent_untracked SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getppid")
int tp_sys_enter_getppid(void *ctx)
{
	return 0;
}

/* the loader turns this one off unless watch_compat is set */
SEC("tracepoint/raw_syscalls/sys_enter")
int tp_raw_sys_enter(void *ctx)
{
	return 0;
}

SEC("tracepoint/agent_sensor_test/no_such_event")
int tp_no_such_event(void *ctx)
{
	return 0;
}

SEC("tp_btf/agent_sensor_no_such_raw_tp")
int tp_btf_no_such(void *ctx)
{
	return 0;
}

#ifdef VERIFIER_REJECTS
SEC("tracepoint/syscalls/sys_enter_getpid")
int tp_rejected(void *ctx)
{
	return *((char *)ctx + 100000); /* out of the context: refused */
}
#endif
