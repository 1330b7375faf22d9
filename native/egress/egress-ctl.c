/* egress-ctl: loads, pins and drives the containment object
 * (bpf/egress/egress.bpf.c) for `sensor isolate` / `sensor release`.
 *
 * A separate executable rather than part of the addon: containment must
 * outlive the sensor (pinned under PIN_DIR), and the CLI that applies it is
 * not the process that runs the sensor. Output is one JSON object per line.
 *
 *   egress-ctl ensure CGROUP2_DIR        load + attach to the cgroup v2 root + pin (idempotent); attaches
 *                                        again, with the pinned maps, programs detached by a release
 *   egress-ctl ensure-maps CGROUP2_DIR   load and pin the maps only (ports, grants set ahead of any isolation)
 *   egress-ctl add ROOT MODE POLICY PID...  contain PIDs as part of instance ROOT
 *                                        (MODE 1 deny, 2 shadow, 3 grants, 4 grants shadow; POLICY: grants id);
 *                                        exit 3 when the programs are not attached (run ensure)
 *   egress-ctl grant-set POLICY ADDR32HEX BITS LO-HI[,LO-HI...]   allow a prefix (v4-mapped for IPv4)
 *   egress-ctl grant-clear POLICY        drop a policy's grants
 *   egress-ctl verdicts [ROOT]           destinations refused or would-be refused, with counts
 *   egress-ctl verdicts-clear ROOT
 *   egress-ctl release ROOT              drop every process of instance ROOT (inherited ones too); when
 *                                        no process is contained any more, detach the programs (the maps
 *                                        stay pinned: counters, verdicts, grants, ports)
 *   egress-ctl list                      contained processes
 *   egress-ctl counters                  refusals by hook, summed over CPUs
 *   egress-ctl port-add PORT | port-del PORT | ports
 *   egress-ctl unload                    unpin everything (the kernel detaches the programs)
 *   egress-ctl cut PID FD...             shut down the process's sockets FD... (connections made before isolation)
 *
 * Exit: 0 done, 1 error (message on stderr), 2 usage, 3 not loaded.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "egress.h"
#include "egress.skel.h"

#define PIN_PARENT "/sys/fs/bpf/agent-sensor"
#define PIN_DIR PIN_PARENT "/egress"
#define LOCK_FILE "/run/agent-sensor-egress.lock"

static const char *LINKS[] = {
	"link_connect4", "link_connect6", "link_sendmsg4", "link_sendmsg6",
	"link_sock_create", "link_fork", "link_exit",
};
static const char *MAPS[] = { "contained", "loopback_ports", "counters", "grants", "verdicts" };
#define N(a) (sizeof(a) / sizeof((a)[0]))

static int fail(const char *what, int err)
{
	fprintf(stderr, "egress-ctl: %s: %s\n", what, strerror(err < 0 ? -err : err));
	return 1;
}

static int pinned_fd(const char *name)
{
	char path[256];
	snprintf(path, sizeof path, PIN_DIR "/%s", name);
	return bpf_obj_get(path);
}

static int lock_exclusive(void)
{
	int fd = open(LOCK_FILE, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0)
		flock(fd, LOCK_EX);
	return fd;
}

static void unpin_all(void)
{
	char path[256];
	for (size_t i = 0; i < N(LINKS); i++) {
		snprintf(path, sizeof path, PIN_DIR "/%s", LINKS[i]);
		unlink(path);
	}
	for (size_t i = 0; i < N(MAPS); i++) {
		snprintf(path, sizeof path, PIN_DIR "/%s", MAPS[i]);
		unlink(path);
	}
	rmdir(PIN_DIR);
}

static int all_pinned(const char **names, size_t n)
{
	char path[256];
	struct stat st;
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof path, PIN_DIR "/%s", names[i]);
		if (stat(path, &st))
			return 0;
	}
	return 1;
}

#define links_pinned() all_pinned(LINKS, N(LINKS))
#define maps_pinned() all_pinned(MAPS, N(MAPS))

/* Unpinning a link detaches its program: nothing else holds the link. */
static void unpin_links(void)
{
	char path[256];
	for (size_t i = 0; i < N(LINKS); i++) {
		snprintf(path, sizeof path, PIN_DIR "/%s", LINKS[i]);
		unlink(path);
	}
}

static int pin_link(struct bpf_link *link, const char *name)
{
	char path[256];
	snprintf(path, sizeof path, PIN_DIR "/%s", name);
	return bpf_link__pin(link, path);
}

/* The pinned maps have the layout this tool was built with (not an older object's). */
static int layout_matches(void)
{
	static const struct { const char *name; __u32 key, value; } want[] = {
		{ "contained", sizeof(__u32), sizeof(struct egress_entry) },
		{ "loopback_ports", sizeof(__u16), sizeof(__u8) },
		{ "counters", sizeof(__u32), sizeof(__u64) },
		{ "grants", sizeof(struct grant_key), sizeof(struct grant_value) },
		{ "verdicts", sizeof(struct verdict_key), sizeof(struct verdict_value) },
	};
	for (size_t i = 0; i < N(want); i++) {
		int fd = pinned_fd(want[i].name);
		struct bpf_map_info info = { 0 };
		__u32 len = sizeof(info);
		int ok = fd >= 0 && bpf_obj_get_info_by_fd(fd, &info, &len) == 0 &&
			 info.key_size == want[i].key && info.value_size == want[i].value;
		if (fd >= 0)
			close(fd);
		if (!ok)
			return 0;
	}
	return 1;
}

/* Attaches the loaded object's programs (cgroup ones to the cgroup v2 root)
 * and pins their links; on failure unpins what it pinned. */
static int attach_and_pin(struct egress_bpf *skel, const char *cgroup_dir)
{
	int cg = open(cgroup_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg < 0)
		return -errno;
	struct { struct bpf_program *prog; int cgroup; } progs[] = {
		{ skel->progs.egress_connect4, 1 }, { skel->progs.egress_connect6, 1 },
		{ skel->progs.egress_sendmsg4, 1 }, { skel->progs.egress_sendmsg6, 1 },
		{ skel->progs.egress_sock_create, 1 }, { skel->progs.egress_fork, 0 },
		{ skel->progs.egress_exit, 0 },
	};
	int err = 0;
	for (size_t i = 0; i < N(progs) && !err; i++) {
		struct bpf_link *l = progs[i].cgroup ? bpf_program__attach_cgroup(progs[i].prog, cg)
						     : bpf_program__attach(progs[i].prog);
		if (!l) {
			err = -errno;
			break;
		}
		err = pin_link(l, LINKS[i]);
		bpf_link__disconnect(l); /* the pin keeps it attached after we exit */
		bpf_link__destroy(l);
	}
	close(cg);
	if (err)
		unpin_links();
	return err;
}

/* Programs detached by a release, attached again with the pinned maps (what
 * they hold, counters and verdicts included, carries on). */
static int reattach(const char *cgroup_dir)
{
	struct egress_bpf *skel = egress_bpf__open();
	int err = skel ? 0 : -errno;
	for (size_t i = 0; i < N(MAPS) && !err; i++) {
		struct bpf_map *m = bpf_object__find_map_by_name(skel->obj, MAPS[i]);
		int fd = pinned_fd(MAPS[i]);
		err = !m || fd < 0 ? -ENOENT : bpf_map__reuse_fd(m, fd);
		if (fd >= 0)
			close(fd);
	}
	if (!err)
		err = egress_bpf__load(skel);
	if (!err)
		err = attach_and_pin(skel, cgroup_dir);
	egress_bpf__destroy(skel);
	return err;
}

/* attach: also attach the programs (isolation); otherwise the maps alone,
 * for settings made ahead of any isolation (loopback ports). */
static int cmd_ensure(const char *cgroup_dir, int attach)
{
	int lock = lock_exclusive();
	int old = pinned_fd("contained");
	if (old >= 0) {
		if (maps_pinned() && layout_matches()) {
			int err = attach && !links_pinned() ? reattach(cgroup_dir) : 0;
			if (err)
				return fail("attach the containment programs again", err);
			printf("{\"loaded\":true,\"fresh\":false,\"attached\":%s}\n", links_pinned() ? "true" : "false");
			return 0;
		}
		/* An object of another layout (an upgrade) or a half-done attempt:
		 * replace it, but never while it holds contained processes. */
		__u32 k;
		if (bpf_map_get_next_key(old, NULL, &k) == 0) {
			fprintf(stderr, "egress-ctl: a containment object of another version is in force (process %u is contained); release every instance, then retry\n", k);
			return 1;
		}
		close(old);
	}
	unpin_all();
	struct egress_bpf *skel = egress_bpf__open_and_load();
	if (!skel)
		return fail("load the containment object", errno);
	int err = 0;
	mkdir(PIN_PARENT, 0700);
	if (mkdir(PIN_DIR, 0700) && errno != EEXIST)
		err = -errno;
	for (size_t i = 0; i < N(MAPS) && !err; i++) {
		struct bpf_map *m = bpf_object__find_map_by_name(skel->obj, MAPS[i]);
		char path[256];
		snprintf(path, sizeof path, PIN_DIR "/%s", MAPS[i]);
		err = m ? bpf_map__pin(m, path) : -ENOENT;
	}
	if (!err && attach)
		err = attach_and_pin(skel, cgroup_dir);
	if (err) {
		unpin_all();
		egress_bpf__destroy(skel);
		return fail("attach and pin", err);
	}
	egress_bpf__destroy(skel);
	if (lock >= 0)
		close(lock);
	printf("{\"loaded\":true,\"fresh\":true,\"attached\":%s}\n", attach ? "true" : "false");
	return 0;
}

static __u64 boot_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static int parse_u32(const char *s, __u32 *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || end == s || v > 0xffffffffUL)
		return -1;
	*out = (__u32)v;
	return 0;
}

static int cmd_add(int argc, char **argv)
{
	__u32 root, mode, policy;
	if (argc < 4 || parse_u32(argv[0], &root) || parse_u32(argv[1], &mode) || parse_u32(argv[2], &policy) ||
	    mode < EGRESS_MODE_DENY || mode > EGRESS_MODE_GRANTS_SHADOW)
		return 2;
	/* Under the lock a release takes to detach: an entry is never added to
	 * a map whose programs are gone. */
	int lock = lock_exclusive();
	int fd = pinned_fd("contained");
	if (fd < 0 || !links_pinned())
		return 3;
	for (int i = 3; i < argc; i++) {
		__u32 pid;
		if (parse_u32(argv[i], &pid))
			return 2;
		struct egress_entry e = { 0 };
		/* keep the counts of a process contained before (kernel-inherited or re-run) */
		if (bpf_map_lookup_elem(fd, &pid, &e))
			e.since_ns = boot_ns();
		e.root_pid = root;
		e.mode = mode;
		e.policy = policy;
		if (bpf_map_update_elem(fd, &pid, &e, BPF_ANY))
			return fail("contain a process", errno);
		printf("{\"added\":%u}\n", pid);
	}
	if (lock >= 0)
		close(lock);
	return 0;
}

static void print_entry(__u32 pid, const struct egress_entry *e)
{
	printf("{\"pid\":%u,\"rootPid\":%u,\"mode\":%u,\"policy\":%u,\"sinceBootNs\":\"%llu\",\"denied\":%llu,\"allowedLoopback\":%llu}\n",
	       pid, e->root_pid, e->mode, e->policy, (unsigned long long)e->since_ns, (unsigned long long)e->denied,
	       (unsigned long long)e->allowed_loopback);
}

/* Walks the map; with a root, deletes that instance's entries instead of listing. */
static int walk(int root_filter, __u32 root)
{
	int fd = pinned_fd("contained");
	if (fd < 0)
		return 3;
	/* Collect keys first: deleting while iterating restarts get_next_key. */
	static __u32 keys[16384];
	size_t n = 0;
	__u32 key, next;
	int have = 0;
	while (n < N(keys) && bpf_map_get_next_key(fd, have ? &key : NULL, &next) == 0) {
		keys[n++] = next;
		key = next;
		have = 1;
	}
	for (size_t i = 0; i < n; i++) {
		struct egress_entry e;
		if (bpf_map_lookup_elem(fd, &keys[i], &e))
			continue; /* exited meanwhile */
		if (!root_filter) {
			print_entry(keys[i], &e);
		} else if (e.root_pid == root) {
			if (bpf_map_delete_elem(fd, &keys[i]) == 0)
				printf("{\"released\":%u,\"denied\":%llu}\n", keys[i], (unsigned long long)e.denied);
		}
	}
	close(fd);
	return 0;
}

/* Releases instance root; when that leaves nothing contained, detaches the
 * programs, so a host with no containment in force runs none of ours on its
 * connects, sends, forks and exits. */
static int cmd_release(__u32 root)
{
	int lock = lock_exclusive();
	int r = walk(1, root);
	int fd = pinned_fd("contained");
	__u32 k;
	if (r == 0 && fd >= 0 && bpf_map_get_next_key(fd, NULL, &k) && errno == ENOENT && links_pinned()) {
		unpin_links();
		printf("{\"detached\":true}\n");
	}
	if (fd >= 0)
		close(fd);
	if (lock >= 0)
		close(lock);
	return r;
}

static int cmd_counters(void)
{
	static const char *names[EGRESS_CNT_MAX] = {
		"connect4", "connect6", "sendmsg4", "sendmsg6", "sockCreate", "shadow", "forkInherited", "mapFull",
		"granted", "verdictsFull",
	};
	int fd = pinned_fd("counters");
	if (fd < 0)
		return 3;
	int ncpu = libbpf_num_possible_cpus();
	if (ncpu <= 0)
		return fail("count CPUs", ncpu);
	__u64 *vals = calloc(ncpu, sizeof(__u64));
	printf("{");
	for (__u32 i = 0; i < EGRESS_CNT_MAX; i++) {
		__u64 sum = 0;
		if (bpf_map_lookup_elem(fd, &i, vals) == 0)
			for (int c = 0; c < ncpu; c++)
				sum += vals[c];
		printf("%s\"%s\":%llu", i ? "," : "", names[i], (unsigned long long)sum);
	}
	printf("}\n");
	free(vals);
	return 0;
}

static int cmd_port(const char *op, const char *arg)
{
	int fd = pinned_fd("loopback_ports");
	if (fd < 0)
		return 3;
	if (!strcmp(op, "ports")) {
		__u16 key, next;
		int have = 0;
		while (bpf_map_get_next_key(fd, have ? &key : NULL, &next) == 0) {
			printf("{\"port\":%u}\n", next);
			key = next;
			have = 1;
		}
		return 0;
	}
	__u32 v;
	if (!arg || parse_u32(arg, &v) || v == 0 || v > 65535)
		return 2;
	__u16 port = (__u16)v;
	__u8 one = 1;
	int r = !strcmp(op, "port-add") ? bpf_map_update_elem(fd, &port, &one, BPF_ANY) : bpf_map_delete_elem(fd, &port);
	if (r && errno != ENOENT)
		return fail(op, errno);
	return 0;
}

static int parse_hex16(const char *s, __u8 out[16])
{
	if (strlen(s) != 32)
		return -1;
	for (int i = 0; i < 16; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (__u8)v;
	}
	return 0;
}

static int cmd_grant_set(int argc, char **argv)
{
	struct grant_key k = { 0 };
	struct grant_value v = { 0 };
	__u32 bits;
	if (argc != 4 || parse_u32(argv[0], &k.policy) || parse_hex16(argv[1], k.addr) || parse_u32(argv[2], &bits) || bits > 128)
		return 2;
	k.prefixlen = 32 + bits;
	char *ranges = strdup(argv[3]), *save = NULL;
	int n = 0;
	for (char *r = strtok_r(ranges, ",", &save); r; r = strtok_r(NULL, ",", &save)) {
		unsigned lo, hi;
		if (n >= GRANT_PORT_RANGES || sscanf(r, "%u-%u", &lo, &hi) != 2 || lo > hi || hi > 65535 || hi == 0) {
			free(ranges);
			return 2;
		}
		v.lo[n] = lo;
		v.hi[n] = hi;
		n++;
	}
	free(ranges);
	int fd = pinned_fd("grants");
	if (fd < 0)
		return 3;
	if (bpf_map_update_elem(fd, &k, &v, BPF_ANY))
		return fail("set a grant", errno);
	return 0;
}

static int cmd_grant_clear(const char *arg)
{
	__u32 policy;
	if (!arg || parse_u32(arg, &policy))
		return 2;
	int fd = pinned_fd("grants");
	if (fd < 0)
		return 3;
	static struct grant_key keys[16384];
	size_t n = 0;
	struct grant_key key, next;
	int have = 0;
	while (n < N(keys) && bpf_map_get_next_key(fd, have ? &key : NULL, &next) == 0) {
		keys[n++] = next;
		key = next;
		have = 1;
	}
	for (size_t i = 0; i < n; i++)
		if (keys[i].policy == policy)
			bpf_map_delete_elem(fd, &keys[i]);
	return 0;
}

static int cmd_verdicts(const char *arg, int clear)
{
	__u32 root = 0;
	if (arg && parse_u32(arg, &root))
		return 2;
	int fd = pinned_fd("verdicts");
	if (fd < 0)
		return 3;
	static struct verdict_key keys[16384];
	size_t n = 0;
	struct verdict_key key, next;
	int have = 0;
	while (n < N(keys) && bpf_map_get_next_key(fd, have ? &key : NULL, &next) == 0) {
		keys[n++] = next;
		key = next;
		have = 1;
	}
	for (size_t i = 0; i < n; i++) {
		if (arg && keys[i].root_pid != root)
			continue;
		if (clear) {
			bpf_map_delete_elem(fd, &keys[i]);
			continue;
		}
		struct verdict_value v;
		if (bpf_map_lookup_elem(fd, &keys[i], &v))
			continue;
		char hex[33];
		for (int b = 0; b < 16; b++)
			sprintf(hex + 2 * b, "%02x", keys[i].addr[b]);
		printf("{\"rootPid\":%u,\"addr\":\"%s\",\"port\":%u,\"proto\":%u,\"verdict\":%u,\"count\":%llu,\"lastBootNs\":\"%llu\"}\n",
		       keys[i].root_pid, hex, keys[i].port, keys[i].proto, keys[i].verdict,
		       (unsigned long long)v.count, (unsigned long long)v.last_ns);
	}
	return 0;
}

/* Takes a duplicate of each socket from the process (pidfd_getfd, 5.6+, needs
 * ptrace rights over it) and shuts the socket down: the connection is cut for
 * the process too, since both descriptors share one socket. */
static int cmd_cut(int argc, char **argv)
{
	__u32 pid;
	if (argc < 2 || parse_u32(argv[0], &pid))
		return 2;
	int pidfd = syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		return fail("pidfd_open", errno);
	for (int i = 1; i < argc; i++) {
		__u32 fd;
		if (parse_u32(argv[i], &fd))
			return 2;
		int mine = syscall(SYS_pidfd_getfd, pidfd, fd, 0);
		int err = 0;
		if (mine < 0) {
			err = errno;
		} else {
			if (shutdown(mine, SHUT_RDWR) && errno != ENOTCONN)
				err = errno;
			close(mine);
		}
		printf("{\"pid\":%u,\"fd\":%u,\"error\":%d}\n", pid, fd, err);
	}
	close(pidfd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	const char *cmd = argv[1];
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(cmd, "ensure") && argc == 3)
		return cmd_ensure(argv[2], 1);
	if (!strcmp(cmd, "ensure-maps") && argc == 3)
		return cmd_ensure(argv[2], 0);
	if (!strcmp(cmd, "add"))
		return cmd_add(argc - 2, argv + 2);
	if (!strcmp(cmd, "release") && argc == 3) {
		__u32 root;
		if (parse_u32(argv[2], &root))
			return 2;
		return cmd_release(root);
	}
	if (!strcmp(cmd, "grant-set"))
		return cmd_grant_set(argc - 2, argv + 2);
	if (!strcmp(cmd, "grant-clear"))
		return cmd_grant_clear(argc > 2 ? argv[2] : NULL);
	if (!strcmp(cmd, "verdicts"))
		return cmd_verdicts(argc > 2 ? argv[2] : NULL, 0);
	if (!strcmp(cmd, "verdicts-clear") && argc == 3)
		return cmd_verdicts(argv[2], 1);
	if (!strcmp(cmd, "list"))
		return walk(0, 0);
	if (!strcmp(cmd, "counters"))
		return cmd_counters();
	if (!strcmp(cmd, "ports") || !strcmp(cmd, "port-add") || !strcmp(cmd, "port-del"))
		return cmd_port(cmd, argc > 2 ? argv[2] : NULL);
	if (!strcmp(cmd, "cut"))
		return cmd_cut(argc - 2, argv + 2);
	if (!strcmp(cmd, "unload")) {
		int lock = lock_exclusive();
		unpin_all();
		if (lock >= 0)
			close(lock);
		printf("{\"unloaded\":true}\n");
		return 0;
	}
	return 2;
}
