// The overhead floor: bpftrace on exactly the tracepoints the sensor uses,
// each with a filter that rejects every event. Enabling a syscall tracepoint
// puts every task's syscalls on the slower traced path; this measures that
// cost alone, so the sensor's own cost for untracked processes shows beside it.
import { execFileSync } from 'node:child_process';

// Attached only when the socket-level DNS programs cannot be (native/src/loader.c).
const DNS_FALLBACK = new Set(['syscalls/sys_enter_read', 'syscalls/sys_exit_read', 'syscalls/sys_enter_recvfrom', 'syscalls/sys_exit_recvfrom',
  'syscalls/sys_enter_recvmsg', 'syscalls/sys_exit_recvmsg', 'syscalls/sys_enter_recvmmsg', 'syscalls/sys_exit_recvmmsg', 'syscalls/sys_enter_write']);

/** tracepoint names ("syscalls:sys_enter_openat", ...) the BPF object attaches to (by default: with DNS at the socket level) */
const OPEN_ENTRY = new Set(['syscalls/sys_enter_open', 'syscalls/sys_enter_creat', 'syscalls/sys_enter_openat', 'syscalls/sys_enter_openat2']);

export function tracepointsOf(objectPath, { dnsFallback = false } = {}) {
  const out = execFileSync('readelf', ['-S', '-W', objectPath], { encoding: 'utf8' });
  const names = new Set();
  for (const m of out.matchAll(/\s(tracepoint|tp_btf)\/([\w/]+)/g)) {
    // raw_syscalls/sys_enter is --watch-compat's, not attached by default: not in the floor
    if (m[2] === 'raw_syscalls/sys_enter') continue;
    // the open family's entry programs are --watch-open-races', not loaded by default
    if (OPEN_ENTRY.has(m[2])) continue;
    if (!dnsFallback && DNS_FALLBACK.has(m[2])) continue;
    names.add(m[1] === 'tp_btf' ? `sched:${m[2]}` : m[2].replace('/', ':'));
  }
  return [...names];
}

export function floorScript(tracepoints) {
  return tracepoints.map((tp) => `tracepoint:${tp} /pid == 0/ { @never = count(); }`).join('\n') + '\n';
}
