// SPDX-License-Identifier: Apache-2.0
#include "libbpf_log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/libbpf.h>

/* A verifier log runs to megabytes; its end says what went wrong. */
#define LOG_KEEP 8192

static pthread_mutex_t capture_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static bool capturing;
static pthread_t capture_owner;
static bool echo_stderr;
static char tail[LOG_KEEP + 1];
static size_t tail_len;

/* Keeps the last LOG_KEEP bytes: on overflow, drop the oldest half. */
static void keep(const char *s, size_t n)
{
	if (n >= LOG_KEEP) {
		s += n - LOG_KEEP / 2;
		n = LOG_KEEP / 2;
		tail_len = 0;
	}
	if (tail_len + n > LOG_KEEP) {
		size_t drop = tail_len + n - LOG_KEEP / 2;
		if (drop > tail_len)
			drop = tail_len;
		memmove(tail, tail + drop, tail_len - drop);
		tail_len -= drop;
	}
	memcpy(tail + tail_len, s, n);
	tail_len += n;
	tail[tail_len] = '\0';
}

static int print_fn(enum libbpf_print_level level, const char *fmt, va_list args)
{
	char line[1024], *text = line;
	va_list copy;
	int n;

	/* A verifier log arrives as one huge "%s": format it whole (its end
	 * is what matters), on the heap when it does not fit on the stack. */
	va_copy(copy, args);
	n = vsnprintf(line, sizeof(line), fmt, copy);
	va_end(copy);
	if (n < 0)
		return 0;
	if ((size_t)n >= sizeof(line)) {
		text = malloc((size_t)n + 1);
		if (text) {
			va_copy(copy, args);
			vsnprintf(text, (size_t)n + 1, fmt, copy);
			va_end(copy);
		} else {
			text = line;
			n = sizeof(line) - 1;
		}
	}
	/* Only the thread inside begin/end writes the tail; libbpf messages
	 * from other threads (another sensor's ring reader) are not captured. */
	if (__atomic_load_n(&capturing, __ATOMIC_ACQUIRE) && pthread_equal(pthread_self(), capture_owner) && level <= LIBBPF_INFO)
		keep(text, (size_t)n);
	if (echo_stderr)
		fputs(text, stderr);
	if (text != line)
		free(text);
	return n;
}

static void install(void)
{
	const char *env = getenv("AGENT_SENSOR_LIBBPF_LOG");

	echo_stderr = env && *env && strcmp(env, "0") != 0;
	libbpf_set_print(print_fn);
}

void libbpf_log_begin(void)
{
	pthread_once(&install_once, install);
	pthread_mutex_lock(&capture_lock);
	tail_len = 0;
	tail[0] = '\0';
	capture_owner = pthread_self();
	__atomic_store_n(&capturing, true, __ATOMIC_RELEASE);
}

void libbpf_log_end(void)
{
	__atomic_store_n(&capturing, false, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&capture_lock);
}

const char *libbpf_log_text(void)
{
	return tail;
}

/* libbpf 1.x ends a failed load with "prog 'NAME': failed to load: -N". */
int libbpf_log_failed_prog(char *buf, size_t len)
{
	static const char marker[] = "': failed to load";
	const char *hit = NULL, *p = tail, *q, *start;

	while ((q = strstr(p, marker)) != NULL) {
		hit = q;
		p = q + 1;
	}
	if (!hit)
		return 0;
	for (start = hit; start > tail && start[-1] != '\''; start--)
		;
	if (start == tail || (size_t)(hit - start) >= len)
		return 0;
	memcpy(buf, start, (size_t)(hit - start));
	buf[hit - start] = '\0';
	return 1;
}
