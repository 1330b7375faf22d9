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
// bpftrace stamps are CLOCK_MONOTONIC: monotonicToEpochOffset() serves them.
import { readFileSync } from 'node:fs';

export interface BootClock {
  /** add to a boot-ns stamp to get epoch ns */
  readonly bootToEpochNs: bigint;
  /** how the offset was measured */
  readonly source: 'timer_list' | 'node-clocks';
}

/** REALTIME and BOOTTIME as offsets from MONOTONIC, in ns. */
interface ClockOffsets {
  realMinusMono: bigint;
  bootMinusMono: bigint;
  source: BootClock['source'];
}

/** For CLOCK_BOOTTIME stamps (bpf_ktime_get_boot_ns, the libbpf records). */
export function measureBootClock(): BootClock {
  const o = measureOffsets();
  return { bootToEpochNs: o.realMinusMono - o.bootMinusMono, source: o.source };
}

/** For CLOCK_MONOTONIC stamps (bpf_ktime_get_ns: bpftrace's `nsecs`): add to get epoch ns. */
export function monotonicToEpochOffset(): bigint {
  return measureOffsets().realMinusMono;
}

function measureOffsets(): ClockOffsets {
  return fromTimerList() ?? fromNodeClocks();
}

function fromTimerList(): ClockOffsets | null {
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
  return { realMinusMono: realOff, bootMinusMono: bootOff, source: 'timer_list' };
}

/** The fallback estimate alone (tests compare it with timer_list). */
export function nodeClockEstimate(): bigint {
  const o = fromNodeClocks();
  return o.realMinusMono - o.bootMinusMono;
}

function fromNodeClocks(): ClockOffsets {
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
  return { realMinusMono: best!.realMinusMono, bootMinusMono, source: 'node-clocks' };
}

const NS_PER_S = 1_000_000_000;
const TWO_32 = 4294967296;

/**
 * Boot ns -> `ts` (ISO-8601 UTC, 9 fractional digits) and `tsNs` (epoch ns
 * as a decimal string). Runs per event, so it works on Numbers: seconds and
 * nanoseconds are added separately (exact while boot ns < 2^53, ~104 days of
 * uptime; past that it takes the BigInt path) and the ISO prefix is cached
 * per second. Results are left in `ts` / `tsNs` to avoid an object per call.
 */
export class TimestampFormatter {
  ts = '';
  tsNs = '';
  private readonly offSec: number;
  private readonly offFrac: number;
  private lastSec = -1;
  private lastPrefix = '';

  constructor(private readonly bootToEpochNs: bigint) {
    this.offSec = Number(bootToEpochNs / 1_000_000_000n);
    this.offFrac = Number(bootToEpochNs % 1_000_000_000n);
  }

  /** `lo`/`hi`: the two little-endian halves of the u64 boot ns */
  set(lo: number, hi: number): void {
    let sec: number;
    let frac: number;
    if (hi < 0x200000) {
      const boot = hi * TWO_32 + lo; // < 2^53: exact
      const bootSec = Math.floor(boot / NS_PER_S);
      sec = bootSec + this.offSec;
      frac = boot - bootSec * NS_PER_S + this.offFrac;
    } else {
      const epoch = ((BigInt(hi) << 32n) | BigInt(lo)) + this.bootToEpochNs;
      sec = Number(epoch / 1_000_000_000n);
      frac = Number(epoch % 1_000_000_000n);
    }
    if (frac >= NS_PER_S) {
      sec += 1;
      frac -= NS_PER_S;
    } else if (frac < 0) {
      sec -= 1;
      frac += NS_PER_S;
    }
    this.format(sec, frac);
  }

  epochNs(bootNs: bigint): bigint {
    return bootNs + this.bootToEpochNs;
  }

  /** ISO text of an epoch-ns stamp (also leaves it in `ts`, and its decimal in `tsNs`). */
  iso(epochNs: bigint): string {
    this.format(Number(epochNs / 1_000_000_000n), Number(epochNs % 1_000_000_000n));
    return this.ts;
  }

  private format(sec: number, frac: number): void {
    if (sec !== this.lastSec) {
      this.lastSec = sec;
      // "2026-11-28T11:40:35.000Z" -> "2026-11-28T11:40:35."
      this.lastPrefix = new Date(sec * 1000).toISOString().slice(0, 20);
    }
    const fracText = frac < 100_000_000 ? String(frac).padStart(9, '0') : String(frac);
    this.ts = this.lastPrefix + fracText + 'Z';
    this.tsNs = String(sec) + fracText;
  }
}
