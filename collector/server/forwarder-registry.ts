// How a forwarder (collector/forward: the store shipped to a SIEM) reports
// to `sensor status`. A forwarder running in the collector's process
// registers itself here; Status asks each for its figures when it is called,
// so nothing is copied or goes stale. Kept here, apart from collector/forward,
// so the server needs nothing of how a forwarder ships.
export interface ForwarderHealth {
  /** unique within the collector, e.g. "syslog-1" */
  name: string;
  /** where it ships, as the user configured it (tcp+tls://siem:6514, http://clickhouse:8123) */
  destination: string;
  /** events stored and not yet acknowledged by the destination */
  lagEvents: number;
  /** epoch ns of the oldest event not yet shipped; null: nothing waiting */
  oldestUnshippedNs: bigint | null;
  /** events acknowledged by the destination since the forwarder started */
  shipped: number;
  /** events retention pruned before they were shipped (lost for this destination) */
  lost: number;
  /** the newest failure since the last success; null: none */
  lastError: { message: string; atNs: bigint } | null;
  /** epoch ns of the last acknowledged delivery; null: none yet */
  lastSuccessNs: bigint | null;
}

export interface ForwarderReporter {
  health(): ForwarderHealth;
}

export class ForwarderRegistry {
  private readonly reporters = new Set<ForwarderReporter>();

  /** Returns the function that takes it out again (when the forwarder stops). */
  register(reporter: ForwarderReporter): () => void {
    this.reporters.add(reporter);
    return () => this.reporters.delete(reporter);
  }

  /** Each forwarder's figures now; one that throws is shown with its error rather than hiding the others. */
  list(): ForwarderHealth[] {
    return [...this.reporters].map((r) => {
      try {
        return r.health();
      } catch (err) {
        return {
          name: '?', destination: '?', lagEvents: 0, oldestUnshippedNs: null, shipped: 0, lost: 0,
          lastError: { message: `status unavailable: ${(err as Error).message}`, atNs: BigInt(Date.now()) * 1_000_000n }, lastSuccessNs: null,
        };
      }
    });
  }
}
