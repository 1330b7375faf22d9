// --since / --until values: a relative age ("90s", "10m", "2h", "7d", "1w"),
// an ISO-8601 time (fractional seconds to the nanosecond are kept), or epoch
// nanoseconds as digits. Returns epoch nanoseconds.
const UNIT_NS: Record<string, bigint> = {
  ms: 1_000_000n, s: 1_000_000_000n, m: 60_000_000_000n, h: 3_600_000_000_000n,
  d: 86_400_000_000_000n, w: 604_800_000_000_000n,
};

export function parseTimeSpec(spec: string, nowMs = Date.now()): bigint {
  const s = spec.trim();
  const rel = /^(\d+)(ms|s|m|h|d|w)$/.exec(s);
  if (rel) return BigInt(nowMs) * 1_000_000n - BigInt(rel[1]!) * UNIT_NS[rel[2]!]!;
  if (/^\d{16,}$/.test(s)) return BigInt(s);
  const ms = Date.parse(s);
  if (Number.isNaN(ms)) {
    throw new Error(`cannot read time ${JSON.stringify(spec)}: use 10m, 2h, 7d, an ISO time, or epoch ns`);
  }
  // Date.parse stops at milliseconds; keep any finer digits the text has.
  const frac = /\.(\d{4,9})/.exec(s);
  const subMs = frac ? BigInt(frac[1]!.padEnd(9, '0').slice(3)) : 0n;
  return BigInt(ms) * 1_000_000n + subMs;
}
