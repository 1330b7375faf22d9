// In-kernel cost per program from the kernel's BPF stats (run_time_ns /
// run_cnt, counted only while sysctl kernel.bpf_stats_enabled=1): the figure
// that machine load disturbs least, beside the wall-clock ratios. Only the
// programs this process holds (its /proc/self/fdinfo), not other sensors'.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export function bpfStatsEnabled() {
  try {
    return readFileSync('/proc/sys/kernel/bpf_stats_enabled', 'utf8').trim() === '1';
  } catch {
    return false;
  }
}

/** name -> { ns, cnt } of the BPF programs open in this process */
export function ownProgramStats() {
  const ids = new Set();
  for (const fd of readdirSync('/proc/self/fdinfo')) {
    try {
      const m = /prog_id:\s*(\d+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'latin1'));
      if (m) ids.add(Number(m[1]));
    } catch { /* closed meanwhile */ }
  }
  const out = {};
  for (const p of JSON.parse(execFileSync('bpftool', ['prog', 'show', '-j'], { encoding: 'utf8' }))) {
    if (ids.has(p.id)) out[p.name] = { ns: p.run_time_ns ?? 0, cnt: p.run_cnt ?? 0 };
  }
  return out;
}

/** ns per run of each program between two ownProgramStats() snapshots */
export function nsPerRun(before, after, names) {
  const out = {};
  for (const n of names) {
    const a = after[n], b = before[n] ?? { ns: 0, cnt: 0 };
    if (a && a.cnt > b.cnt) out[n] = Math.round((a.ns - b.ns) / (a.cnt - b.cnt));
  }
  return out;
}
