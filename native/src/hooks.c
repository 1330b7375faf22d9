// SPDX-License-Identifier: Apache-2.0
#include "hooks.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <bpf/btf.h>
#include <bpf/libbpf.h>

struct hook_probe {
	const char *events_dir;   /* <tracefs>/events */
	struct btf *vmlinux;      /* loaded on first tp_btf/raw_tp section */
	int vmlinux_err;
};

static bool is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* NULL with errno EACCES when tracefs is there but not readable by us. */
static const char *find_events_dir(void)
{
	bool denied = false;

	static const char *const candidates[] = {
		"/sys/kernel/tracing/events",
		"/sys/kernel/debug/tracing/events",
	};
	size_t i;

	for (i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
		if (is_dir(candidates[i]))
			return candidates[i];
		denied |= errno == EACCES;
	}
	errno = denied ? EACCES : ENOENT;
	return NULL;
}

struct hook_probe *hook_probe_new(void)
{
	struct hook_probe *p;
	const char *dir = find_events_dir();

	/* Tracepoint attach goes through tracefs (libbpf reads each event's id
	 * there), so a host where it is not mounted yet gets it mounted. */
	if (!dir && errno == EACCES)
		return NULL;
	if (!dir) {
		if (mount("nodev", "/sys/kernel/tracing", "tracefs", 0, NULL) != 0 && errno != EBUSY)
			return NULL;
		dir = find_events_dir();
		if (!dir) {
			errno = ENOENT;
			return NULL;
		}
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->events_dir = dir;
	return p;
}

static enum hook_state probe_tracepoint(struct hook_probe *p, const char *cat_name)
{
	char path[PATH_MAX];
	int n = snprintf(path, sizeof(path), "%s/%s", p->events_dir, cat_name);

	if (n < 0 || (size_t)n >= sizeof(path))
		return HOOK_MISSING;
	return is_dir(path) ? HOOK_PRESENT : HOOK_MISSING;
}

/* Every raw tracepoint the kernel can attach BPF to has a BTF typedef
 * btf_trace_<name> (that is how libbpf resolves tp_btf itself). */
static enum hook_state probe_btf_tracepoint(struct hook_probe *p, const char *name)
{
	char type_name[256];
	int n;

	if (!p->vmlinux && !p->vmlinux_err) {
		p->vmlinux = btf__load_vmlinux_btf();
		if (!p->vmlinux)
			p->vmlinux_err = errno ? errno : ENOENT;
	}
	if (!p->vmlinux)
		return HOOK_NOT_PROBED; /* let load report the real problem */
	n = snprintf(type_name, sizeof(type_name), "btf_trace_%s", name);
	if (n < 0 || (size_t)n >= sizeof(type_name))
		return HOOK_MISSING;
	return btf__find_by_name_kind(p->vmlinux, type_name, BTF_KIND_TYPEDEF) >= 0 ? HOOK_PRESENT
										     : HOOK_MISSING;
}

static const char *after_prefix(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);

	return strncmp(s, prefix, n) == 0 ? s + n : NULL;
}

enum hook_state hook_probe_section(struct hook_probe *p, const char *section)
{
	const char *rest;

	if ((rest = after_prefix(section, "tracepoint/")) || (rest = after_prefix(section, "tp/")))
		return strchr(rest, '/') ? probe_tracepoint(p, rest) : HOOK_NOT_PROBED;
	if ((rest = after_prefix(section, "tp_btf/")) || (rest = after_prefix(section, "raw_tp/")) ||
	    (rest = after_prefix(section, "raw_tracepoint/")))
		return *rest ? probe_btf_tracepoint(p, rest) : HOOK_NOT_PROBED;
	return HOOK_NOT_PROBED;
}

void hook_probe_free(struct hook_probe *p)
{
	if (!p)
		return;
	btf__free(p->vmlinux);
	free(p);
}
