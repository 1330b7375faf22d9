// What is normal for one agent, learned from all its instances: the sets of
// generalised destinations, executables and file-system areas it used, its
// per-minute rates as distributions (log-2 histograms, not means), the hours
// of the day it was active, and how much it saw (events, span), so an alert
// can say what its novelty is measured against. Bounded: each set keeps at
// most MAX_KEYS entries (an agent that touches more is noted as overflowing
// and its detectors stay quiet on that feature rather than guess).
import { RATE_NAMES, type MinuteCounts, type RateName } from './minute-rates.js';

export const FEATURE_SETS = ['destinations', 'executables', 'areas'] as const;
export type FeatureSet = (typeof FEATURE_SETS)[number];

const MAX_KEYS = 4096;
// Quarter-octave buckets: bucket i holds values in [2^(i/4), 2^((i+1)/4)), so a
// quantile is known within 19%, for values up to 2^24 a minute.
const SUB = 4;
const BUCKETS = 24 * SUB;
const bucketOf = (v: number): number => (v < 1 ? 0 : Math.min(BUCKETS - 1, Math.floor(SUB * Math.log2(v) + 1e-9)));
const upperOf = (i: number): number => Math.ceil(2 ** ((i + 1) / SUB)) - 1;

export interface BaselineView {
  readonly agent: string;
  has(set: FeatureSet, key: string): boolean;
  /** the set filled up while learning: novelty in it proves nothing */
  overflowed(set: FeatureSet): boolean;
  size(set: FeatureSet): number;
  /** events of each kind seen while learning */
  readonly seen: { events: number; opens: number; connects: number; execs: number; instances: number };
  /** learning span, ms (first to last learned event) */
  spanMs(): number;
  /** active minutes learned */
  minutes(): number;
  /** an upper bound of the q-quantile of a per-minute rate (0 when nothing was learned) */
  rateQuantile(rate: RateName, q: number): number;
  /** active minutes learned per local hour of day */
  hourMinutes(hour: number): number;
}

interface Histogram {
  /** counts per bucket (bucketOf) */
  b: number[];
  n: number;
  max: number;
}

export interface BaselineJson {
  v: 1;
  agent: string;
  firstNs: string | null;
  lastNs: string | null;
  seen: BaselineView['seen'];
  sets: Record<FeatureSet, Record<string, number>>;
  overflow: Record<FeatureSet, boolean>;
  rates: Record<RateName, Histogram>;
  hours: number[];
}

const emptyHistogram = (): Histogram => ({ b: Array(BUCKETS).fill(0), n: 0, max: 0 });

export class Baseline implements BaselineView {
  private sets: Record<FeatureSet, Map<string, number>>;
  private overflow: Record<FeatureSet, boolean>;
  private rates: Record<RateName, Histogram>;
  private hours: number[];
  firstNs: bigint | null = null;
  lastNs: bigint | null = null;
  seen = { events: 0, opens: 0, connects: 0, execs: 0, instances: 0 };
  /** changed since it was last saved */
  dirty = false;

  constructor(readonly agent: string, json?: BaselineJson) {
    this.sets = { destinations: new Map(), executables: new Map(), areas: new Map() };
    this.overflow = { destinations: false, executables: false, areas: false };
    this.rates = Object.fromEntries(RATE_NAMES.map((r) => [r, emptyHistogram()])) as Record<RateName, Histogram>;
    this.hours = Array(24).fill(0);
    if (json) this.load(json);
  }

  has(set: FeatureSet, key: string): boolean {
    return this.sets[set].has(key);
  }

  overflowed(set: FeatureSet): boolean {
    return this.overflow[set];
  }

  size(set: FeatureSet): number {
    return this.sets[set].size;
  }

  spanMs(): number {
    return this.firstNs === null || this.lastNs === null ? 0 : Number((this.lastNs - this.firstNs) / 1_000_000n);
  }

  minutes(): number {
    return this.rates.opens.n;
  }

  rateQuantile(rate: RateName, q: number): number {
    const h = this.rates[rate];
    if (h.n === 0) return 0;
    const want = Math.ceil(q * h.n);
    let acc = 0;
    for (let i = 0; i < BUCKETS; i++) {
      acc += h.b[i]!;
      if (acc >= want) return Math.min(upperOf(i), h.max);
    }
    return h.max;
  }

  hourMinutes(hour: number): number {
    return this.hours[hour] ?? 0;
  }

  // --- learning (the engine only) ---

  noteEvent(tsNs: bigint): void {
    this.seen.events++;
    if (this.firstNs === null || tsNs < this.firstNs) this.firstNs = tsNs;
    if (this.lastNs === null || tsNs > this.lastNs) this.lastNs = tsNs;
    this.dirty = true;
  }

  add(set: FeatureSet, key: string): void {
    const m = this.sets[set];
    const n = m.get(key);
    if (n !== undefined) m.set(key, n + 1);
    else if (m.size < MAX_KEYS) m.set(key, 1);
    else this.overflow[set] = true;
  }

  addMinute(c: MinuteCounts, hour: number): void {
    for (const r of RATE_NAMES) {
      const v = c[r];
      const h = this.rates[r];
      h.n++;
      if (v > h.max) h.max = v;
      h.b[bucketOf(v)]!++; // a zero minute counts in the lowest bucket: it still weighs in the quantiles
    }
    this.hours[hour]!++;
    this.dirty = true;
  }

  toJSON(): BaselineJson {
    const sets = Object.fromEntries(FEATURE_SETS.map((s) => [s, Object.fromEntries(this.sets[s])])) as BaselineJson['sets'];
    return {
      v: 1, agent: this.agent, firstNs: this.firstNs?.toString() ?? null, lastNs: this.lastNs?.toString() ?? null,
      seen: { ...this.seen }, sets, overflow: { ...this.overflow }, rates: this.rates, hours: this.hours,
    };
  }

  private load(j: BaselineJson): void {
    if (j.v !== 1) throw new Error(`baseline of ${this.agent}: unknown format ${String(j.v)}`);
    this.firstNs = j.firstNs === null ? null : BigInt(j.firstNs);
    this.lastNs = j.lastNs === null ? null : BigInt(j.lastNs);
    this.seen = { ...this.seen, ...j.seen };
    for (const s of FEATURE_SETS) {
      this.sets[s] = new Map(Object.entries(j.sets?.[s] ?? {}));
      this.overflow[s] = Boolean(j.overflow?.[s]);
    }
    for (const r of RATE_NAMES) if (j.rates?.[r]?.b?.length === BUCKETS) this.rates[r] = j.rates[r];
    if (Array.isArray(j.hours) && j.hours.length === 24) this.hours = j.hours;
  }
}
