// bpftrace 0.17's `nsecs` is bpf_ktime_get_ns(): CLOCK_MONOTONIC, not the
// CLOCK_BOOTTIME the libbpf records use. Epoch = monotonic + (REALTIME -
// MONOTONIC). The kernel publishes that offset exactly in /proc/timer_list
// (hrtimer clock base 1's `.offset`); without it, Node's clocks give it to
// about a microsecond (process.hrtime is CLOCK_MONOTONIC on Linux).
import { readFileSync } from 'node:fs';

export function monotonicToEpochOffset(): bigint {
  try {
    const text = readFileSync('/proc/timer_list', 'latin1').slice(0, 16384);
    const m = /clock 1:[\s\S]*?\.offset:\s+(-?\d+) nsecs/.exec(text);
    if (m && BigInt(m[1]) !== 0n) return BigInt(m[1]);
  } catch {
    // not root or no timer_list: measure
  }
  let best: { gap: bigint; offset: bigint } | null = null;
  for (let i = 0; i < 5; i++) {
    const m0 = process.hrtime.bigint();
    const realMs = performance.timeOrigin + performance.now();
    const m1 = process.hrtime.bigint();
    const gap = m1 - m0;
    const offset = BigInt(Math.round(realMs * 1e6)) - (m0 + gap / 2n);
    if (!best || gap < best.gap) best = { gap, offset };
  }
  return best!.offset;
}
