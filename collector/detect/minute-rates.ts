// Per-minute activity of an agent instance: the rates a baseline keeps as
// distributions and the rate-spike detector compares against them.

export const RATE_NAMES = ['opens', 'distinctFiles', 'connects', 'destinations', 'execs'] as const;
export type RateName = (typeof RATE_NAMES)[number];
export type MinuteCounts = Record<RateName, number>;

// Sets stop growing here: a count past it is already a spike by any measure.
const MAX_DISTINCT = 100_000;
const MINUTE_NS = 60_000_000_000n;

export class MinuteRates {
  minute = -1n;
  /** the minute the last close() ended */
  closedMinute = -1n;
  counts: MinuteCounts = { opens: 0, distinctFiles: 0, connects: 0, destinations: 0, execs: 0 };
  private files = new Set<string>();
  private dests = new Set<string>();

  /**
   * Moves to the minute of tsNs; returns the counts of the minute it closes
   * (null when it stays in the same one or the closed one was empty).
   */
  advance(tsNs: bigint): MinuteCounts | null {
    const m = tsNs / MINUTE_NS;
    if (m === this.minute) return null;
    const closed = this.close();
    // Events of one instance arrive in order; a late one (another CPU's ring) stays in the current minute.
    if (m > this.minute) this.minute = m;
    return closed;
  }

  /** Ends the current minute (the instance exited); its counts, or null if it saw nothing. */
  close(): MinuteCounts | null {
    const c = this.counts;
    this.closedMinute = this.minute;
    const any = c.opens + c.connects + c.execs > 0;
    this.counts = { opens: 0, distinctFiles: 0, connects: 0, destinations: 0, execs: 0 };
    this.files.clear();
    this.dests.clear();
    return any ? c : null;
  }

  open(path: string): void {
    this.counts.opens++;
    if (this.files.size < MAX_DISTINCT && !this.files.has(path)) {
      this.files.add(path);
      this.counts.distinctFiles = this.files.size;
    }
  }

  connect(destKey: string): void {
    this.counts.connects++;
    if (this.dests.size < MAX_DISTINCT && !this.dests.has(destKey)) {
      this.dests.add(destKey);
      this.counts.destinations = this.dests.size;
    }
  }

  exec(): void {
    this.counts.execs++;
  }
}
