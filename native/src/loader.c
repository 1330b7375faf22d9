// SPDX-License-Identifier: Apache-2.0
#include "loader.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "events.h"
#include "hooks.h"
#include "libbpf_log.h"
#include "loader_internal.h"
#include "sensor.skel.h"

#define LOG_IN_ERROR 3072  /* libbpf log tail appended to an error */
#define VMLINUX_BTF  "/sys/kernel/btf/vmlinux"

int loader_fail(struct sensor_loader *l, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(l->err, sizeof(l->err), fmt, ap);
	va_end(ap);
	return -err;
}

/* Appends the tail of libbpf's log: the verifier's reason lives there. */
static void append_libbpf_log(struct sensor_loader *l)
{
	const char *log = libbpf_log_text();
	size_t len = strlen(log), used = strlen(l->err);

	if (len == 0)
		return;
	if (len > LOG_IN_ERROR)
		log += len - LOG_IN_ERROR;
	snprintf(l->err + used, sizeof(l->err) - used, "\nlibbpf log (tail):\n%s", log);
}

struct sensor_loader *loader_new(void)
{
	return calloc(1, sizeof(struct sensor_loader));
}

const char *loader_error(const struct sensor_loader *l)
{
	return l->err;
}

static int remember_unavailable(struct sensor_loader *l, const char *name)
{
	char **grown = realloc(l->unavailable, (l->n_unavailable + 1) * sizeof(*grown));

	if (!grown)
		return -ENOMEM;
	l->unavailable = grown;
	grown[l->n_unavailable] = strdup(name);
	if (!grown[l->n_unavailable])
		return -ENOMEM;
	l->n_unavailable++;
	return 0;
}

/* Leaves out every program whose hook this kernel does not have. */
static int disable_missing_hooks(struct sensor_loader *l)
{
	struct hook_probe *probe = hook_probe_new();
	struct bpf_program *prog;
	int err = 0;

	if (!probe && (errno == EACCES || errno == EPERM))
		return loader_fail(l, EPERM, "loading BPF needs root or CAP_BPF+CAP_PERFMON "
				      "(tracefs at /sys/kernel/tracing is not accessible: %s)", strerror(errno));
	if (!probe)
		return loader_fail(l, errno,
			    "tracefs is not mounted at /sys/kernel/tracing and mounting it failed (%s); "
			    "tracepoints cannot be attached without it",
			    strerror(errno));
	bpf_object__for_each_program(prog, l->skel->obj) {
		if (hook_probe_section(probe, bpf_program__section_name(prog)) != HOOK_MISSING)
			continue;
		bpf_program__set_autoload(prog, false);
		err = remember_unavailable(l, bpf_program__name(prog));
		if (err)
			break;
	}
	hook_probe_free(probe);
	return err ? loader_fail(l, -err, "out of memory") : 0;
}

/* The kernel side wakes the reader at multiples of a power of two (a shift
 * per record instead of a division): the largest one not above bytes, so
 * wakeups come no later than asked. 0 bytes: every record (shift 0). */
static uint32_t wakeup_shift(uint64_t bytes)
{
	uint32_t shift = 0;

	while (shift < 63 && (bytes >> (shift + 1)))
		shift++;
	return shift;
}

/* The open family's sys_enter programs (open.bpf.c): --watch-open-races. */
static const char *const open_entry[] = {
	"tp_sys_enter_open", "tp_sys_enter_creat", "tp_sys_enter_openat", "tp_sys_enter_openat2",
};

static int configure(struct sensor_loader *l, const struct loader_config *cfg)
{
	long page = sysconf(_SC_PAGESIZE);
	uint32_t ring = cfg->ring_bytes;
	int err;

	if (ring < (uint32_t)page || (ring & (ring - 1)) != 0)
		return loader_fail(l, EINVAL, "ringBytes must be a power of two and at least the page size (%ld), got %u",
			    page, ring);
	err = bpf_map__set_max_entries(l->skel->maps.events, ring);
	if (err)
		return loader_fail(l, -err, "setting the ring buffer size to %u failed: %s", ring, strerror(-err));
	if (cfg->tracked_max) {
		err = bpf_map__set_max_entries(l->skel->maps.tracked, cfg->tracked_max);
		if (err)
			return loader_fail(l, -err, "setting the tracked-process capacity to %u failed: %s",
					   cfg->tracked_max, strerror(-err));
	}
	/* Off by default: it runs on every syscall of every process. */
	if (!cfg->watch_compat)
		bpf_program__set_autoload(l->skel->progs.tp_raw_sys_enter, false);
	/* Off by default: every open of every process would run them. */
	for (size_t i = 0; !cfg->watch_open_races && i < sizeof(open_entry) / sizeof(open_entry[0]); i++) {
		struct bpf_program *prog = bpf_object__find_program_by_name(l->skel->obj, open_entry[i]);

		if (prog)
			bpf_program__set_autoload(prog, false);
	}
	l->skel->rodata->cfg_open_entry = cfg->watch_open_races ? 1 : 0;
	l->skel->rodata->cfg_trace_all = cfg->trace_all ? 1 : 0;
	l->skel->rodata->cfg_self_tgid = cfg->self_tgid;
	l->skel->rodata->cfg_wakeup_shift = wakeup_shift(cfg->wakeup_bytes);
	return 0;
}

static int load(struct sensor_loader *l)
{
	char prog[128];
	sigset_t all, old;
	int err;

	/*
	 * The verifier gives up with EAGAIN when the loading thread has a
	 * signal pending; libbpf tries a program 5 times. Under a profiler
	 * (SIGPROF every millisecond) every try failed and the sensor fell
	 * back to bpftrace. Signals wait until the object is loaded.
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	err = sensor_bpf__load(l->skel);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!err)
		return 0;
	if (err == -EPERM)
		loader_fail(l, EPERM, "loading BPF needs root or CAP_BPF+CAP_PERFMON (%s)", strerror(-err));
	else if (libbpf_log_failed_prog(prog, sizeof(prog)))
		loader_fail(l, -err, "BPF program '%s' failed to load: %s (the verifier rejected it or the kernel "
			      "lacks something it needs)", prog, strerror(-err));
	else
		loader_fail(l, -err, "loading the BPF object failed: %s", strerror(-err));
	append_libbpf_log(l);
	return err;
}

/*
 * DNS at the socket level (dns_sock.bpf.c: cgroup programs on agent UDP
 * sockets) replaces these syscall hooks, which run on every read, recv* and
 * write of every process; they are attached only when the socket level
 * cannot be.
 */
static const char *const dns_syscall_fallback[] = {
	"tp_sys_enter_read",     "tp_sys_exit_read",     "tp_sys_enter_recvfrom", "tp_sys_exit_recvfrom",
	"tp_sys_enter_recvmsg",  "tp_sys_exit_recvmsg",  "tp_sys_enter_recvmmsg", "tp_sys_exit_recvmmsg",
	"tp_sys_enter_write",
};
#define DNS_SOCKET_LEVEL "dns_sock (DNS at the socket level; the read/recv/write syscall hooks are used instead)"

static bool is_cgroup_prog(struct bpf_program *prog)
{
	return strncmp(bpf_program__section_name(prog), "cgroup", 6) == 0;
}

static bool is_dns_fallback(struct bpf_program *prog)
{
	size_t i;

	for (i = 0; i < sizeof(dns_syscall_fallback) / sizeof(dns_syscall_fallback[0]); i++)
		if (strcmp(bpf_program__name(prog), dns_syscall_fallback[i]) == 0)
			return true;
	return false;
}

/* The cgroup v2 mount (the unified hierarchy's root), from /proc/self/mounts. */
static bool cgroup2_dir(char *out, size_t cap)
{
	char dev[256], dir[512], type[64];
	FILE *f = fopen("/proc/self/mounts", "re");
	bool found = false;

	if (!f)
		return false;
	while (!found && fscanf(f, "%255s %511s %63s %*[^\n]\n", dev, dir, type) == 3) {
		if (strcmp(type, "cgroup2") == 0) {
			snprintf(out, cap, "%s", dir);
			found = true;
		}
	}
	fclose(f);
	return found;
}

/* Attaches every loaded cgroup program at the cgroup v2 root (bpf links, so
 * other programs there stay); all or none. */
static bool attach_socket_level(struct sensor_loader *l, char *why, size_t cap)
{
	struct bpf_program *prog;
	size_t first = l->n_links;
	char dir[512];
	bool any = false;
	int cg;

	bpf_object__for_each_program(prog, l->skel->obj)
		any |= bpf_program__autoload(prog) && is_cgroup_prog(prog);
	if (!any) {
		snprintf(why, cap, "not loaded");
		return false;
	}
	if (!cgroup2_dir(dir, sizeof(dir))) {
		snprintf(why, cap, "no cgroup v2 mounted");
		return false;
	}
	cg = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg < 0) {
		snprintf(why, cap, "%s: %s", dir, strerror(errno));
		return false;
	}
	bpf_object__for_each_program(prog, l->skel->obj) {
		struct bpf_link *link;

		if (!bpf_program__autoload(prog) || !is_cgroup_prog(prog))
			continue;
		link = bpf_program__attach_cgroup(prog, cg);
		if (!link) {
			snprintf(why, cap, "attaching %s at %s: %s", bpf_program__name(prog), dir, strerror(errno));
			while (l->n_links > first)
				bpf_link__destroy(l->links[--l->n_links]);
			close(cg);
			return false;
		}
		l->links[l->n_links++] = link;
	}
	close(cg);
	return true;
}

/* Attaches program by program (not the skeleton's all-or-nothing attach) so
 * an error names the one that failed. */
static int attach(struct sensor_loader *l)
{
	struct bpf_program *prog;
	bool socket_level;
	char why[768];
	size_t n = 0;

	bpf_object__for_each_program(prog, l->skel->obj)
		n++;
	l->links = calloc(n ? n : 1, sizeof(*l->links));
	if (!l->links)
		return loader_fail(l, ENOMEM, "out of memory");
	socket_level = attach_socket_level(l, why, sizeof(why));
	if (!socket_level && strcmp(why, "not loaded") != 0) {
		char name[sizeof(why) + 128];

		snprintf(name, sizeof(name), DNS_SOCKET_LEVEL ": %s", why);
		if (remember_unavailable(l, name))
			return loader_fail(l, ENOMEM, "out of memory");
	}
	{
		struct bpf_map *flag = bpf_object__find_map_by_name(l->skel->obj, "dns_at_socket");
		__u32 zero = 0, on = socket_level ? 1 : 0;

		if (flag && bpf_map_update_elem(bpf_map__fd(flag), &zero, &on, BPF_ANY))
			return loader_fail(l, errno, "setting dns_at_socket failed: %s", strerror(errno));
	}
	bpf_object__for_each_program(prog, l->skel->obj) {
		struct bpf_link *link;
		int err;

		if (!bpf_program__autoload(prog) || is_cgroup_prog(prog))
			continue;
		if (socket_level && is_dns_fallback(prog))
			continue;
		link = bpf_program__attach(prog);
		err = link ? 0 : -errno;
		if (err == -EOPNOTSUPP)
			continue; /* no auto-attach for this SEC: a tail-call target or similar */
		if (err) {
			loader_fail(l, -err, "attaching BPF program '%s' (%s) failed: %s", bpf_program__name(prog),
			     bpf_program__section_name(prog), strerror(-err));
			append_libbpf_log(l);
			return err;
		}
		l->links[l->n_links++] = link;
	}
	return 0;
}

static int on_ring_record(void *ctx, void *data, size_t size)
{
	struct sensor_loader *l = ctx;

	return l->on_record(l->ctx, data, size);
}

static int open_ring(struct sensor_loader *l)
{
	l->rb = ring_buffer__new(bpf_map__fd(l->skel->maps.events), on_ring_record, l, NULL);
	if (!l->rb)
		return loader_fail(l, errno, "creating the ring buffer reader failed: %s", strerror(errno));
	l->ncpus = libbpf_num_possible_cpus();
	if (l->ncpus <= 0)
		return loader_fail(l, -l->ncpus, "cannot count possible CPUs");
	l->percpu = calloc((size_t)l->ncpus, sizeof(*l->percpu));
	return l->percpu ? 0 : loader_fail(l, ENOMEM, "out of memory");
}

static int start_locked(struct sensor_loader *l, const struct loader_config *cfg)
{
	int err;

	if (access(VMLINUX_BTF, R_OK) != 0)
		return loader_fail(l, ENOENT, "kernel has no BTF at " VMLINUX_BTF
				       " (needs CONFIG_DEBUG_INFO_BTF=y); use the bpftrace backend");
	l->skel = sensor_bpf__open();
	if (!l->skel) {
		err = errno ? errno : EINVAL;
		loader_fail(l, err, "opening the embedded BPF object failed: %s", strerror(err));
		append_libbpf_log(l);
		return -err;
	}
	if ((err = configure(l, cfg)) || (err = disable_missing_hooks(l)))
		return err;
	if (getenv("AGENT_SENSOR_SOCKET_LEVEL") && strcmp(getenv("AGENT_SENSOR_SOCKET_LEVEL"), "0") == 0) {
		/* Forced off (tests of the fallback, benchmarks): the syscall hooks. */
		struct bpf_program *prog;

		bpf_object__for_each_program(prog, l->skel->obj)
			if (is_cgroup_prog(prog))
				bpf_program__set_autoload(prog, false);
	}
	err = load(l);
	if (err && err != -EPERM) {
		/* A kernel that refuses a socket-level program: the object again
		 * without them, DNS through the syscall hooks. */
		struct bpf_program *prog;
		char name[sizeof(l->err) < 512 ? sizeof(l->err) : 512];

		snprintf(name, sizeof(name), DNS_SOCKET_LEVEL ": did not load");
		sensor_bpf__destroy(l->skel);
		while (l->n_unavailable > 0) /* disable_missing_hooks lists them again */
			free(l->unavailable[--l->n_unavailable]);
		l->skel = sensor_bpf__open();
		if (!l->skel)
			return err;
		if ((err = configure(l, cfg)) || (err = disable_missing_hooks(l)))
			return err;
		bpf_object__for_each_program(prog, l->skel->obj)
			if (is_cgroup_prog(prog))
				bpf_program__set_autoload(prog, false);
		if (remember_unavailable(l, name))
			return loader_fail(l, ENOMEM, "out of memory");
		l->err[0] = '\0';
		err = load(l);
	}
	if (err || (err = attach(l)) || (err = open_ring(l)))
		return err;
	return 0;
}

int loader_start(struct sensor_loader *l, const struct loader_config *cfg,
		 loader_record_fn on_record, void *ctx)
{
	int err;

	if (l->skel)
		return loader_fail(l, EALREADY, "the loader is already started");
	l->err[0] = '\0';
	l->on_record = on_record;
	l->ctx = ctx;
	libbpf_log_begin();
	err = start_locked(l, cfg);
	libbpf_log_end();
	return err;
}

int loader_poll(struct sensor_loader *l, int timeout_ms)
{
	int n = ring_buffer__poll(l->rb, timeout_ms), m;

	if (n < 0)
		return n;
	/* Records written with BPF_RB_NO_WAKEUP never wake epoll: after the
	 * timeout, take whatever accumulated below the wakeup threshold. */
	m = ring_buffer__consume(l->rb);
	return m < 0 ? m : n + m;
}

int loader_consume(struct sensor_loader *l)
{
	return ring_buffer__consume(l->rb);
}

void loader_detach(struct sensor_loader *l)
{
	size_t i;

	for (i = 0; i < l->n_links; i++)
		bpf_link__destroy(l->links[i]);
	l->n_links = 0;
}

size_t loader_unavailable_count(const struct sensor_loader *l)
{
	return l->n_unavailable;
}

const char *loader_unavailable_name(const struct sensor_loader *l, size_t i)
{
	return i < l->n_unavailable ? l->unavailable[i] : NULL;
}

void loader_destroy(struct sensor_loader *l)
{
	size_t i;

	if (!l)
		return;
	loader_detach(l);
	free(l->links);
	ring_buffer__free(l->rb);
	sensor_bpf__destroy(l->skel);
	for (i = 0; i < l->n_unavailable; i++)
		free(l->unavailable[i]);
	free(l->unavailable);
	free(l->percpu);
	free(l);
}
