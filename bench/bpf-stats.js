// In-kernel cost per BPF program from the kernel's own accounting
// (kernel.bpf_stats_enabled=1: run_time_ns and run_cnt of each program, as
// `bpftool prog show` reports them). Wall-clock ratios on a shared machine are
// noisy; these are not: they count only the time spent inside the programs.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';

/** Turns the accounting on; returns a function that restores the previous setting. */
export function enableBpfStats() {
  const path = '/proc/sys/kernel/bpf_stats_enabled';
  const before = readFileSync(path, 'utf8').trim();
  writeFileSync(path, '1');
  return () => writeFileSync(path, before);
}

export function programs() {
  return JSON.parse(execFileSync('bpftool', ['prog', 'show', '-j'], { encoding: 'utf8', maxBuffer: 64 << 20 }));
}

/**
 * ids of the BPF programs a process holds (its `bpf-prog` fds: libbpf keeps
 * one per loaded program). Other helpers' sensors load programs of the same
 * names at the same time; this tells ours apart.
 */
export function programIdsOf(pid) {
  const ids = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (!readlinkSync(`/proc/${pid}/fd/${fd}`).includes('bpf-prog')) continue;
      const m = /prog_id:\s*(\d+)/.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
      if (m) ids.push(Number(m[1]));
    } catch {
      // closed meanwhile
    }
  }
  return ids;
}

/** run_time_ns/run_cnt of these programs now, by id. */
export function snapshot(ids) {
  const want = new Set(ids);
  const out = new Map();
  for (const p of programs()) if (want.has(p.id)) out.set(p.id, { name: p.name, ns: p.run_time_ns ?? 0, runs: p.run_cnt ?? 0 });
  return out;
}

/** Per program name between two snapshots: runs, ns per run, total ms (summed over programs of one name). */
export function delta(a, b) {
  const by = new Map();
  for (const [id, end] of b) {
    const start = a.get(id) ?? { ns: 0, runs: 0 };
    const d = by.get(end.name) ?? { runs: 0, ns: 0 };
    d.runs += end.runs - start.runs;
    d.ns += end.ns - start.ns;
    by.set(end.name, d);
  }
  return by;
}

/** Adds delta `d` into the running totals `into` (name -> {runs, ns}). */
export function accumulate(into, d) {
  for (const [name, v] of d) {
    const t = into.get(name) ?? { runs: 0, ns: 0 };
    t.runs += v.runs;
    t.ns += v.ns;
    into.set(name, t);
  }
}

/** "name: runs × ns/run = ms" lines, busiest first. */
export function format(totals, indent = '    ') {
  return [...totals].filter(([, v]) => v.runs > 0).sort((x, y) => y[1].ns - x[1].ns)
    .map(([name, v]) => `${indent}${name.padEnd(16)} ${String(v.runs).padStart(9)} runs × ${(v.ns / v.runs).toFixed(0).padStart(5)} ns = ${(v.ns / 1e6).toFixed(1)} ms`)
    .join('\n');
}
