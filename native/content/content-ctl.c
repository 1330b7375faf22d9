/* content-ctl: loads the content-capture object (bpf/content/content.bpf.c)
 * for the sensor, which starts it and drives it over pipes. A process of its
 * own rather than part of the addon: the sensor's object and addon stay as
 * they are, and the capture can be left out (or fail to load) on its own.
 *
 *   content-ctl [--max-write N] [--max-conn-egress N] [--max-conn-ingress N]
 *               [--mode auto|socket|syscall] [--cgroup CGROUP2_DIR]
 *
 * Plain-socket capture, --mode auto (default): at the socket level
 * (cgroup/connect4|6 + cgroup/sendmsg4|6 register agent sockets, cgroup_skb/
 * egress and cgroup_skb/ingress capture their packets both ways; attached
 * with bpf links at the cgroup v2 root, beside other programs there), so no
 * program runs on the syscalls of every process. When those programs do not
 * load or attach (no cgroup v2, an older kernel) it falls back to the
 * syscall tracepoints on write/sendto/writev/sendmsg and says why in its
 * ready line ("mode", "fallback"); there, what plain sockets receive is not
 * captured. --mode socket fails instead of falling back; --mode syscall
 * skips the socket level (benchmarks, tests of the fallback).
 *
 * stdin, one command a line:
 *   track TGID | untrack TGID      capture (or stop capturing) this process
 *   cgroup ID | uncgroup ID        processes exec'd in this cgroup v2 are tracked (forks inherit)
 *   attach PATH                    uprobes on SSL_write/SSL_read(_ex) of this ELF file
 *                                  (once per inode; e.g. /proc/PID/exe, /proc/PID/map_files/A-B)
 *   counters                       the counters, summed over CPUs
 * stdout, frames: u32 type, u32 length (little-endian), then `length` bytes:
 *   type 1: one kernel record (struct content_hdr + data, content.h)
 *   type 2: one line of JSON (ready, replies, errors)
 * Ends when stdin closes (the sensor went away). Exit 1: could not load.
 */
#include <errno.h>
#include <stdarg.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "content.h"
#include "content.skel.h"

#define MAX_TARGETS 64
#define N(a) (sizeof(a) / sizeof((a)[0]))

static struct content_bpf *skel;

/* The plain-socket programs of each mode (content.bpf.c); TLS uprobes and the
 * exec/fork/exit trackers are common to both. */
static const char *const socket_progs[] = { "content_connect4", "content_connect6", "content_sendmsg4",
					    "content_sendmsg6", "content_skb_egress", "content_skb_ingress" };
static const char *const syscall_progs[] = {
	"content_enter_write", "content_exit_write", "content_enter_sendto", "content_exit_sendto",
	"content_enter_writev", "content_exit_writev", "content_enter_sendmsg", "content_exit_sendmsg",
	"content_sock_state",
};
static struct bpf_link *mode_links[16];
static int n_mode_links;
static struct {
	dev_t dev;
	ino_t ino;
	struct bpf_link *links[8];
} targets[MAX_TARGETS];
static int ntargets;

static void frame(unsigned type, const void *data, unsigned len)
{
	unsigned h[2] = { type, len };
	fwrite(h, sizeof h, 1, stdout);
	fwrite(data, len, 1, stdout);
}

static void json(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void json(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n >= (int)sizeof buf)
		n = sizeof buf - 1;
	frame(2, buf, n);
	fflush(stdout);
}

/* A JSON string of a path: escapes quotes, backslashes and control bytes. */
static void quote(const char *s, char *out, size_t cap)
{
	size_t o = 0;
	for (; *s && o + 7 < cap; s++) {
		unsigned char c = *s;
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = c;
		} else if (c < 0x20 || c >= 0x7f) {
			o += snprintf(out + o, cap - o, "\\u%04x", c);
		} else {
			out[o++] = c;
		}
	}
	out[o] = 0;
}

static int on_record(void *ctx, void *data, size_t len)
{
	(void)ctx;
	frame(1, data, len);
	return 0;
}

static void attach(const char *path)
{
	char q[512];
	quote(path, q, sizeof q);
	struct stat st;
	if (stat(path, &st) != 0) {
		json("{\"attach\":\"%s\",\"ok\":false,\"error\":\"%s\"}", q, strerror(errno));
		return;
	}
	for (int i = 0; i < ntargets; i++) {
		if (targets[i].dev == st.st_dev && targets[i].ino == st.st_ino) {
			json("{\"attach\":\"%s\",\"ok\":true,\"already\":true}", q);
			return;
		}
	}
	if (ntargets >= MAX_TARGETS) {
		json("{\"attach\":\"%s\",\"ok\":false,\"error\":\"too many targets\"}", q);
		return;
	}
	struct {
		struct bpf_program *prog;
		const char *func;
		bool ret;
	} probes[] = {
		{ skel->progs.ssl_write_enter, "SSL_write", false },
		{ skel->progs.ssl_write_exit, "SSL_write", true },
		{ skel->progs.ssl_write_ex_enter, "SSL_write_ex", false },
		{ skel->progs.ssl_write_ex_exit, "SSL_write_ex", true },
		{ skel->progs.ssl_read_enter, "SSL_read", false },
		{ skel->progs.ssl_read_exit, "SSL_read", true },
		{ skel->progs.ssl_read_ex_enter, "SSL_read_ex", false },
		{ skel->progs.ssl_read_ex_exit, "SSL_read_ex", true },
	};
	int t = ntargets, got = 0;
	char missing[128] = "";
	memset(&targets[t], 0, sizeof targets[t]);
	for (unsigned i = 0; i < N(probes); i++) {
		LIBBPF_OPTS(bpf_uprobe_opts, o, .func_name = probes[i].func, .retprobe = probes[i].ret);
		/* pid -1: every process mapping this file; the programs filter by `tracked` first. */
		struct bpf_link *l = bpf_program__attach_uprobe_opts(probes[i].prog, -1, path, 0, &o);
		if (!l) {
			if (!probes[i].ret && strlen(missing) + strlen(probes[i].func) + 2 < sizeof missing) {
				strcat(missing, " ");
				strcat(missing, probes[i].func);
			}
			continue;
		}
		targets[t].links[i] = l;
		got++;
	}
	if (got == 0) {
		json("{\"attach\":\"%s\",\"ok\":false,\"error\":\"no SSL_write/SSL_read to attach to\"}", q);
		return;
	}
	targets[t].dev = st.st_dev;
	targets[t].ino = st.st_ino;
	ntargets++;
	json("{\"attach\":\"%s\",\"ok\":true,\"probes\":%d,\"missing\":\"%s\"}", q, got, missing);
}

/* struct sock_owner of content.bpf.c (the agent_socks map's value). */
struct sock_owner {
	__u32 tgid;
	__u32 isn;
	__u64 ssl;
	__u8 isn_known;
	__u8 peer_isn_known;
	__u8 _pad[2];
	__u32 peer_isn;
};

/*
 * At the socket level a socket is registered when its process connects or
 * sends; one the process connected before it was tracked (between its exec
 * and the sensor's `track`, a window the size of a round trip through user
 * space) is registered here: each inet TCP/UDP socket among its fds, by the
 * cookie read from a duplicate of the fd (pidfd_getfd, Linux 5.6+). Its
 * offsets then count from the first segment seen. Returns how many.
 */
static int register_existing(__u32 tgid)
{
#if defined(SYS_pidfd_open) && defined(SYS_pidfd_getfd) && defined(SO_COOKIE)
	char dir[64];
	snprintf(dir, sizeof dir, "/proc/%u/fd", tgid);
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	int pidfd = syscall(SYS_pidfd_open, tgid, 0);
	if (pidfd < 0) {
		closedir(d);
		return 0;
	}
	int n = 0, map = bpf_map__fd(skel->maps.agent_socks);
	struct dirent *e;
	while ((e = readdir(d))) {
		char link[320], target[64];
		if (e->d_name[0] == '.')
			continue;
		snprintf(link, sizeof link, "%s/%s", dir, e->d_name);
		ssize_t m = readlink(link, target, sizeof target - 1);
		if (m <= 0)
			continue;
		target[m] = 0;
		if (strncmp(target, "socket:", 7) != 0)
			continue;
		int fd = syscall(SYS_pidfd_getfd, pidfd, atoi(e->d_name), 0);
		if (fd < 0)
			continue;
		int domain = 0, proto = 0;
		__u64 cookie = 0;
		socklen_t l1 = sizeof domain, l2 = sizeof proto, l3 = sizeof cookie;
		if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &l1) == 0 && (domain == AF_INET || domain == AF_INET6) &&
		    getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &l2) == 0 && (proto == IPPROTO_TCP || proto == IPPROTO_UDP) &&
		    getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &l3) == 0) {
			struct sock_owner o = { .tgid = tgid };
			/* BPF_NOEXIST: one registered at connect meanwhile keeps its ISN. */
			if (bpf_map_update_elem(map, &cookie, &o, BPF_NOEXIST) == 0)
				n++;
		}
		close(fd);
	}
	close(pidfd);
	closedir(d);
	return n;
#else
	(void)tgid;
	return 0;
#endif
}

static bool socket_level_on;

static void counters(void)
{
	int ncpu = libbpf_num_possible_cpus();
	if (ncpu <= 0)
		return;
	__u64 *vals = calloc(ncpu, sizeof(__u64));
	__u64 sums[CONTENT_CNT_MAX] = {};
	int fd = bpf_map__fd(skel->maps.counters);
	for (__u32 k = 0; k < CONTENT_CNT_MAX; k++) {
		if (bpf_map_lookup_elem(fd, &k, vals) == 0)
			for (int c = 0; c < ncpu; c++)
				sums[k] += vals[c];
	}
	free(vals);
	json("{\"counters\":{\"records\":%llu,\"bytes\":%llu,\"cutWriteBytes\":%llu,\"cutConnBytes\":%llu,"
	     "\"lostRecords\":%llu,\"lostBytes\":%llu,\"readFaults\":%llu,\"tlsSockets\":%llu,\"trackedFull\":%llu,"
	     "\"retransBytes\":%llu,\"sockets\":%llu}}",
	     (unsigned long long)sums[0], (unsigned long long)sums[1], (unsigned long long)sums[2],
	     (unsigned long long)sums[3], (unsigned long long)sums[4], (unsigned long long)sums[5],
	     (unsigned long long)sums[6], (unsigned long long)sums[7], (unsigned long long)sums[8],
	     (unsigned long long)sums[9], (unsigned long long)sums[10]);
}

static void command(char *line)
{
	char *nl = strchr(line, '\n');
	if (nl)
		*nl = 0;
	char *arg = strchr(line, ' ');
	if (arg)
		*arg++ = 0;
	__u32 one = 1;
	if (!strcmp(line, "track") && arg) {
		__u32 tgid = strtoul(arg, NULL, 10);
		if (bpf_map_update_elem(bpf_map__fd(skel->maps.tracked), &tgid, &one, BPF_ANY))
			json("{\"track\":%u,\"ok\":false,\"error\":\"%s\"}", tgid, strerror(errno));
		else if (socket_level_on)
			register_existing(tgid);
	} else if (!strcmp(line, "untrack") && arg) {
		__u32 tgid = strtoul(arg, NULL, 10);
		bpf_map_delete_elem(bpf_map__fd(skel->maps.tracked), &tgid);
	} else if (!strcmp(line, "cgroup") && arg) {
		__u64 id = strtoull(arg, NULL, 10);
		int err = bpf_map_update_elem(bpf_map__fd(skel->maps.cgroups), &id, &one, BPF_ANY);
		json("{\"cgroup\":\"%llu\",\"ok\":%s}", (unsigned long long)id, err ? "false" : "true");
	} else if (!strcmp(line, "uncgroup") && arg) {
		__u64 id = strtoull(arg, NULL, 10);
		bpf_map_delete_elem(bpf_map__fd(skel->maps.cgroups), &id);
	} else if (!strcmp(line, "attach") && arg) {
		attach(arg);
	} else if (!strcmp(line, "counters")) {
		counters();
	} else if (line[0]) {
		json("{\"error\":\"unknown command\"}");
	}
}

static int print_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* The cgroup v2 mount (the unified hierarchy), from /proc/self/mounts. */
static int cgroup2_dir(char *out, size_t cap)
{
	FILE *f = fopen("/proc/self/mounts", "r");
	char dev[256], dir[512], type[64];
	int found = 0;
	if (!f)
		return 0;
	while (fscanf(f, "%255s %511s %63s %*[^\n]\n", dev, dir, type) == 3) {
		if (!strcmp(type, "cgroup2")) {
			snprintf(out, cap, "%s", dir);
			found = 1;
			break;
		}
	}
	fclose(f);
	return found;
}

static void set_autoload(const char *const *names, unsigned n, bool on)
{
	for (unsigned i = 0; i < n; i++)
		bpf_program__set_autoload(bpf_object__find_program_by_name(skel->obj, names[i]), on);
}

static void set_autoattach(const char *const *names, unsigned n, bool on)
{
	for (unsigned i = 0; i < n; i++)
		bpf_program__set_autoattach(bpf_object__find_program_by_name(skel->obj, names[i]), on);
}

static void drop_mode_links(void)
{
	for (int i = 0; i < n_mode_links; i++)
		bpf_link__destroy(mode_links[i]);
	n_mode_links = 0;
}

/* Attaches the socket-level programs at the cgroup; on failure none stays and why is in `why`. */
static bool attach_socket_level(const char *cg_path, char *why, size_t cap)
{
	int cg = open(cg_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg < 0) {
		snprintf(why, cap, "cgroup v2 at %s: %s", cg_path, strerror(errno));
		return false;
	}
	for (unsigned i = 0; i < N(socket_progs); i++) {
		struct bpf_link *l = bpf_program__attach_cgroup(bpf_object__find_program_by_name(skel->obj, socket_progs[i]), cg);
		if (!l) {
			snprintf(why, cap, "attaching %s at %s: %s", socket_progs[i], cg_path, strerror(errno));
			drop_mode_links();
			close(cg);
			return false;
		}
		mode_links[n_mode_links++] = l;
	}
	close(cg);
	return true;
}

static bool attach_syscall_level(char *why, size_t cap)
{
	for (unsigned i = 0; i < N(syscall_progs); i++) {
		struct bpf_link *l = bpf_program__attach(bpf_object__find_program_by_name(skel->obj, syscall_progs[i]));
		if (!l) {
			snprintf(why, cap, "attaching %s: %s", syscall_progs[i], strerror(errno));
			drop_mode_links();
			return false;
		}
		mode_links[n_mode_links++] = l;
	}
	return true;
}

static struct content_bpf *open_configured(unsigned long long max_write, unsigned long long max_egress,
					   unsigned long long max_ingress)
{
	struct content_bpf *s = content_bpf__open();
	if (!s)
		return NULL;
	s->rodata->max_write = max_write;
	s->rodata->max_conn_egress = max_egress;
	s->rodata->max_conn_ingress = max_ingress;
	return s;
}

int main(int argc, char **argv)
{
	unsigned long long max_write = 16384, max_egress = 256 * 1024, max_ingress = 1024 * 1024;
	const char *mode = "auto";
	char cg_path[512] = "";
	for (int i = 1; i + 1 < argc; i += 2) {
		unsigned long long v = strtoull(argv[i + 1], NULL, 10);
		if (!strcmp(argv[i], "--max-write"))
			max_write = v;
		else if (!strcmp(argv[i], "--max-conn-egress"))
			max_egress = v;
		else if (!strcmp(argv[i], "--max-conn-ingress"))
			max_ingress = v;
		else if (!strcmp(argv[i], "--mode") && (!strcmp(argv[i + 1], "auto") || !strcmp(argv[i + 1], "socket") ||
							 !strcmp(argv[i + 1], "syscall")))
			mode = argv[i + 1];
		else if (!strcmp(argv[i], "--cgroup"))
			snprintf(cg_path, sizeof cg_path, "%s", argv[i + 1]);
		else {
			fprintf(stderr, "content-ctl: unknown option %s %s\n", argv[i], argv[i + 1]);
			return 2;
		}
	}
	if (max_write == 0 || max_write > CONTENT_MAX_WRITE)
		max_write = CONTENT_MAX_WRITE;
	signal(SIGPIPE, SIG_IGN);
	libbpf_set_print(print_libbpf);
	char fallback[512] = "";
	bool socket_level = strcmp(mode, "syscall") != 0;
	if (socket_level && !cg_path[0] && !cgroup2_dir(cg_path, sizeof cg_path)) {
		snprintf(fallback, sizeof fallback, "no cgroup v2 mounted");
		socket_level = false;
	}
	skel = open_configured(max_write, max_egress, max_ingress);
	if (!skel) {
		fprintf(stderr, "content-ctl: open failed: %s\n", strerror(errno));
		return 1;
	}
	/* The uprobes are attached per file by `attach`; the plain-socket programs by mode, below. */
	const char *manual[] = { "ssl_write_enter", "ssl_write_exit", "ssl_write_ex_enter", "ssl_write_ex_exit",
				 "ssl_read_enter", "ssl_read_exit", "ssl_read_ex_enter", "ssl_read_ex_exit" };
	set_autoattach(manual, N(manual), false);
	set_autoattach(syscall_progs, N(syscall_progs), false);
	if (!socket_level)
		set_autoload(socket_progs, N(socket_progs), false);
	int err = content_bpf__load(skel);
	if (err && socket_level && strcmp(mode, "socket") != 0) {
		/* A kernel that refuses a socket-level program (older cgroup_skb
		 * helpers): the object again without them. */
		snprintf(fallback, sizeof fallback, "socket-level programs did not load: %s", strerror(-err));
		content_bpf__destroy(skel);
		socket_level = false;
		skel = open_configured(max_write, max_egress, max_ingress);
		if (!skel) {
			fprintf(stderr, "content-ctl: open failed: %s\n", strerror(errno));
			return 1;
		}
		set_autoattach(manual, N(manual), false);
		set_autoattach(syscall_progs, N(syscall_progs), false);
		set_autoload(socket_progs, N(socket_progs), false);
		err = content_bpf__load(skel);
	}
	if (err) {
		fprintf(stderr, "content-ctl: load failed: %s\n", strerror(-err));
		return 1;
	}
	err = content_bpf__attach(skel);
	if (err) {
		fprintf(stderr, "content-ctl: attach failed: %s\n", strerror(-err));
		return 1;
	}
	if (socket_level && !attach_socket_level(cg_path, fallback, sizeof fallback)) {
		socket_level = false;
		if (!strcmp(mode, "socket")) {
			fprintf(stderr, "content-ctl: %s\n", fallback);
			return 1;
		}
	}
	if (!socket_level) {
		char why[256];
		if (!attach_syscall_level(why, sizeof why)) {
			fprintf(stderr, "content-ctl: %s\n", why);
			return 1;
		}
		if (fallback[0])
			fprintf(stderr, "content-ctl: socket level unavailable (%s); capturing at the syscall tracepoints\n", fallback);
	}
	socket_level_on = socket_level;
	struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(skel->maps.rb), on_record, NULL, NULL);
	if (!rb) {
		fprintf(stderr, "content-ctl: ring buffer: %s\n", strerror(errno));
		return 1;
	}
	char fq[600];
	quote(fallback, fq, sizeof fq);
	char cq[600];
	quote(cg_path, cq, sizeof cq);
	json("{\"ready\":true,\"maxWrite\":%llu,\"maxConnEgress\":%llu,\"maxConnIngress\":%llu,\"mode\":\"%s\",\"cgroup\":\"%s\",\"fallback\":\"%s\"}",
	     max_write, max_egress, max_ingress, socket_level ? "socket" : "syscall", socket_level ? cq : "", fq);
	/* Commands are read with read(2) into a buffer of our own and every whole
	 * line in it is run: stdio's buffering would keep later lines of one read
	 * hidden from poll(). */
	static char in[8192];
	size_t have = 0;
	struct pollfd fds[2] = { { .fd = 0, .events = POLLIN }, { .fd = ring_buffer__epoll_fd(rb), .events = POLLIN } };
	for (;;) {
		int n = poll(fds, 2, 50); /* records below the kernel's wakeup mark wait at most this long */
		if (n < 0 && errno != EINTR)
			break;
		if (fds[1].revents & POLLIN || n == 0) {
			ring_buffer__consume(rb);
			fflush(stdout);
		}
		if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t got = read(0, in + have, sizeof in - 1 - have);
			if (got <= 0 && !(got < 0 && errno == EINTR))
				break;
			if (got > 0)
				have += got;
			char *start = in, *nl;
			while ((nl = memchr(start, '\n', in + have - start))) {
				*nl = 0;
				command(start);
				start = nl + 1;
			}
			have -= start - in;
			memmove(in, start, have);
			if (have == sizeof in - 1) /* a line longer than the buffer: drop it */
				have = 0;
			fflush(stdout);
		}
		if (ferror(stdout))
			break;
	}
	ring_buffer__consume(rb);
	fflush(stdout);
	ring_buffer__free(rb);
	for (int i = 0; i < ntargets; i++)
		for (int j = 0; j < 8; j++)
			bpf_link__destroy(targets[i].links[j]);
	drop_mode_links();
	content_bpf__destroy(skel);
	return 0;
}
