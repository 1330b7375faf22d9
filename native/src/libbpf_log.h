/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libbpf reports why a load failed (the verifier's log, a missing kernel
 * feature) only through its print callback, which is process-wide. We keep
 * the tail of that output in memory so the loader can put it into the error
 * it returns; a user sees the verifier's last words instead of "-EACCES".
 * Set AGENT_SENSOR_LIBBPF_LOG=1 to also copy everything to stderr.
 */
#ifndef AGENT_SENSOR_LIBBPF_LOG_H
#define AGENT_SENSOR_LIBBPF_LOG_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Installs the callback (once) and starts a fresh capture. Captures are
 * serialised: begin takes a process-wide lock that end releases, so two
 * sensors starting at once never mix their logs. */
void libbpf_log_begin(void);
void libbpf_log_end(void);

/* The captured tail, NUL-terminated; valid between begin and end. */
const char *libbpf_log_text(void);

/* Name of the last program libbpf said failed to load, copied into buf;
 * returns 0 when the log names none. Valid between begin and end. */
int libbpf_log_failed_prog(char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* AGENT_SENSOR_LIBBPF_LOG_H */
