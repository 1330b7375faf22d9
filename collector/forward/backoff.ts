// Retry delays: exponential, capped, with jitter so that a fleet of sensors
// does not reconnect to a SIEM that came back all in the same second.
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** 0..1: the share of each delay that is random */
  jitter: number;
}

export const BACKOFF_DEFAULTS: BackoffOptions = { initialMs: 500, maxMs: 60_000, jitter: 0.5 };

export class Backoff {
  private failures = 0;

  constructor(private readonly opts: BackoffOptions = BACKOFF_DEFAULTS, private readonly random: () => number = Math.random) {}

  /** The delay before the next attempt, after one more failure. */
  next(): number {
    const base = Math.min(this.opts.maxMs, this.opts.initialMs * 2 ** Math.min(this.failures, 30));
    this.failures++;
    return Math.round(base * (1 - this.opts.jitter) + base * this.opts.jitter * this.random());
  }

  reset(): void {
    this.failures = 0;
  }

  get attempts(): number {
    return this.failures;
  }
}
