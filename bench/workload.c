// Workloads for the overhead benchmark: tight loops of the syscalls the
// sensor watches. Prints the elapsed nanoseconds on stdout so the harness
// times the loop, not process start-up.
//   workload open    N PATH   open/read/close PATH N times
//   workload connect N PORT   connect to a loopback listener it runs itself
//   workload write   N        200-byte writes on one loopback TCP connection to
//                             a sink thread of its own (reads and discards)
//   workload exec    N        fork + exec /bin/true N times
//   workload rate    R SECS PATH  open/close PATH at R per second for SECS,
//                             prints the number of opens done
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void *accept_loop(void *arg) {
	int lfd = *(int *)arg;
	for (;;) {
		int c = accept(lfd, NULL, NULL);
		if (c < 0) return NULL;
		close(c);
	}
}

static void *sink_loop(void *arg) {
	int c = accept(*(int *)arg, NULL, NULL);
	char b[65536];
	while (c >= 0 && read(c, b, sizeof b) > 0)
		;
	return NULL;
}

int main(int argc, char **argv) {
	if (argc < 3) { fprintf(stderr, "usage: workload open|connect|exec N [ARG]\n"); return 2; }
	long n = atol(argv[2]);
	char buf[256];
	long long start, end;

	if (!strcmp(argv[1], "open")) {
		const char *path = argc > 3 ? argv[3] : "/etc/hostname";
		start = now_ns();
		for (long i = 0; i < n; i++) {
			int fd = open(path, O_RDONLY);
			if (fd < 0) { perror("open"); return 1; }
			if (read(fd, buf, sizeof buf) < 0) { perror("read"); return 1; }
			close(fd);
		}
		end = now_ns();
	} else if (!strcmp(argv[1], "connect")) {
		int lfd = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		int one = 1;
		setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) || listen(lfd, 4096)) { perror("listen"); return 1; }
		socklen_t len = sizeof sa;
		getsockname(lfd, (struct sockaddr *)&sa, &len);
		pthread_t t;
		pthread_create(&t, NULL, accept_loop, &lfd);
		start = now_ns();
		for (long i = 0; i < n; i++) {
			int fd = socket(AF_INET, SOCK_STREAM, 0);
			if (connect(fd, (struct sockaddr *)&sa, sizeof sa)) { perror("connect"); return 1; }
			close(fd);
		}
		end = now_ns();
	} else if (!strcmp(argv[1], "write")) {
		int lfd = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) || listen(lfd, 1)) { perror("listen"); return 1; }
		socklen_t len = sizeof sa;
		getsockname(lfd, (struct sockaddr *)&sa, &len);
		pthread_t t;
		pthread_create(&t, NULL, sink_loop, &lfd);
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&sa, sizeof sa)) { perror("connect"); return 1; }
		memset(buf, 'w', 200);
		start = now_ns();
		for (long i = 0; i < n; i++)
			if (write(fd, buf, 200) != 200) { perror("write"); return 1; }
		end = now_ns();
	} else if (!strcmp(argv[1], "exec")) {
		start = now_ns();
		for (long i = 0; i < n; i++) {
			pid_t p = fork();
			if (p == 0) { execl("/bin/true", "true", (char *)NULL); _exit(127); }
			int st;
			waitpid(p, &st, 0);
		}
		end = now_ns();
	} else if (!strcmp(argv[1], "rate")) {
		/* Paced in slices of 1 ms so the rate is steady, not bursty. */
		double secs = argc > 3 ? atof(argv[3]) : 10;
		const char *path = argc > 4 ? argv[4] : "/etc/hostname";
		long per_ms = n / 1000 > 0 ? n / 1000 : 1;
		long done = 0;
		start = now_ns();
		long long stop = start + (long long)(secs * 1e9);
		for (long long slice = start; slice < stop; slice += 1000000) {
			for (long i = 0; i < per_ms; i++) {
				int fd = open(path, O_RDONLY);
				if (fd >= 0) close(fd);
				done++;
			}
			long long t;
			while ((t = now_ns()) < slice + 1000000) {
				struct timespec ts = { 0, (slice + 1000000 - t) };
				nanosleep(&ts, NULL);
			}
		}
		end = now_ns();
		printf("%ld %lld\n", done, end - start);
		return 0;
	} else {
		fprintf(stderr, "unknown workload %s\n", argv[1]);
		return 2;
	}
	printf("%lld\n", end - start);
	return 0;
}
