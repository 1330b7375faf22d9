// Kernel timestamps are CLOCK_BOOTTIME nanoseconds (bpf_ktime_get_boot_ns);
// events carry wall-clock epoch nanoseconds. The offset between the two is
// measured once at start:
//
//   epoch = boot - (BOOTTIME - MONOTONIC) + (REALTIME - MONOTONIC)
//
// The kernel publishes both differences exactly in /proc/timer_list (root
// only): hrtimer clock base 1 (REALTIME) and 2 (BOOTTIME) each print their
// `.offset` from MONOTONIC in ns. Without that file we fall back to Node's
// clocks: REALTIME-MONOTONIC from performance.timeOrigin + performance.now()
// (microsecond resolution) against process.hrtime (MONOTONIC), and the boot
// offset (time spent suspended) from /proc/uptime (10 ms resolution; treated
// as zero below 20 ms so an unsuspended host gets no rounding error).
// The offset is fixed for the sensor's run: a clock step (settimeofday) after
// start shifts wall times until restart, as with any monotonic-based stamp.
import { readFileSync } from 'node:fs';

export interface BootClock {
  /** add to a boot-ns stamp to get epoch ns */
  readonly bootToEpochNs: bigint;
  /** how the offset was measured */
  readonly source: 'timer_list' | 'node-clocks';
}

export function measureBootClock(): BootClock {
  return fromTimerList() ?? fromNodeClocks();
}

function fromTimerList(): BootClock | null {
  let text: string;
  try {
    // Only the first CPU's clock bases are needed; the file is large on big hosts.
    text = readFileSync('/proc/timer_list', 'latin1').slice(0, 16384);
  } catch {
    return null;
  }
  const offsets = new Map<number, bigint>();
  const re = /clock (\d+):[\s\S]*?\.offset:\s+(-?\d+) nsecs/g;
  for (let m = re.exec(text); m && offsets.size < 3; m = re.exec(text)) {
    const index = Number(m[1]);
    if (!offsets.has(index)) offsets.set(index, BigInt(m[2]));
  }
  const realOff = offsets.get(1);
  const bootOff = offsets.get(2);
  if (realOff === undefined || bootOff === undefined || realOff === 0n) return null;
  return { bootToEpochNs: realOff - bootOff, source: 'timer_list' };
}

/** The fallback estimate alone (tests compare it with timer_list). */
export function nodeClockEstimate(): bigint {
  return fromNodeClocks().bootToEpochNs;
}

function fromNodeClocks(): BootClock {
  // Take the tightest of a few back-to-back samples of (monotonic, realtime).
  let best: { gap: bigint; realMinusMono: bigint } | null = null;
  for (let i = 0; i < 5; i++) {
    const m0 = process.hrtime.bigint();
    const realMs = performance.timeOrigin + performance.now();
    const m1 = process.hrtime.bigint();
    const gap = m1 - m0;
    const realMinusMono = BigInt(Math.round(realMs * 1e6)) - (m0 + gap / 2n);
    if (!best || gap < best.gap) best = { gap, realMinusMono };
  }
  let bootMinusMono = 0n;
  try {
    const uptimeS = Number(readFileSync('/proc/uptime', 'latin1').split(' ')[0]);
    const diff = BigInt(Math.round(uptimeS * 1e9)) - process.hrtime.bigint();
    if (diff > 20_000_000n) bootMinusMono = diff;
  } catch {
    // no /proc/uptime: assume the host never suspended
  }
  return { bootToEpochNs: best!.realMinusMono - bootMinusMono, source: 'node-clocks' };
}

/** Formats epoch ns as ISO-8601 UTC with 9 fractional digits; caches the second. */
export class TimestampFormatter {
  private lastSec = -1n;
  private lastPrefix = '';

  constructor(private readonly bootToEpochNs: bigint) {}

  epochNs(bootNs: bigint): bigint {
    return bootNs + this.bootToEpochNs;
  }

  iso(epochNs: bigint): string {
    const sec = epochNs / 1_000_000_000n;
    if (sec !== this.lastSec) {
      this.lastSec = sec;
      // "2026-11-28T11:40:35.000Z" -> "2026-11-28T11:40:35."
      this.lastPrefix = new Date(Number(sec) * 1000).toISOString().slice(0, 20);
    }
    const frac = Number(epochNs - sec * 1_000_000_000n);
    return this.lastPrefix + String(frac).padStart(9, '0') + 'Z';
  }
}
