/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Does this kernel have the hook a program wants? We probe what is there
 * (tracefs event directories, vmlinux BTF types) rather than compare kernel
 * versions: distributions backport and configs differ.
 */
#ifndef AGENT_SENSOR_HOOKS_H
#define AGENT_SENSOR_HOOKS_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

struct hook_probe;

/* Finds tracefs (mounting it at /sys/kernel/tracing if nothing is mounted)
 * and loads vmlinux BTF lazily. Returns NULL with errno set when tracefs is
 * nowhere and cannot be mounted. */
struct hook_probe *hook_probe_new(void);

enum hook_state {
	HOOK_PRESENT,      /* attachable                                  */
	HOOK_MISSING,      /* the kernel lacks it: leave the program out  */
	HOOK_NOT_PROBED,   /* a section kind we do not probe: try it      */
};

/* section: a program's SEC(), e.g. "tracepoint/syscalls/sys_enter_openat",
 * "tp/sched/sched_process_exit", "tp_btf/sched_process_fork". */
enum hook_state hook_probe_section(struct hook_probe *p, const char *section);

void hook_probe_free(struct hook_probe *p);

#ifdef __cplusplus
}
#endif

#endif /* AGENT_SENSOR_HOOKS_H */
