// --since / --until values. Accepted, and nothing else:
//   a relative age:      90s, 10m, 2h, 7d, 1w, 500ms  (before now)
//   an ISO-8601 time with a zone: 2026-11-28T12:00:00Z, 2026-11-28T12:00:00.123456789+01:00
//   epoch nanoseconds:   16 digits or more (1764331234123456789)
// Rejected with an error, because they are ambiguous: short digit strings
// ("0", "12", "2026": JavaScript's Date reads them as years or months),
// times without a zone (local time on one machine, UTC on another), dates
// without a time. Returns epoch nanoseconds.
const UNIT_NS: Record<string, bigint> = {
  ms: 1_000_000n, s: 1_000_000_000n, m: 60_000_000_000n, h: 3_600_000_000_000n,
  d: 86_400_000_000_000n, w: 604_800_000_000_000n,
};

export const TIME_FORMS = 'a relative age (10m, 2h, 7d), an ISO-8601 time with a zone (2026-11-28T12:00:00Z, ...+01:00), or epoch ns (16+ digits)';

const ISO_WITH_ZONE = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/i;

export class TimeSpecError extends Error {
  override name = 'TimeSpecError';
}

export function parseTimeSpec(spec: string, nowMs = Date.now()): bigint {
  const s = spec.trim();
  const rel = /^(\d+)(ms|s|m|h|d|w)$/.exec(s);
  if (rel) return BigInt(nowMs) * 1_000_000n - BigInt(rel[1]!) * UNIT_NS[rel[2]!]!;
  if (/^\d{16,}$/.test(s)) return BigInt(s);
  const bad = (why: string) => new TimeSpecError(`cannot read time ${JSON.stringify(spec)}: ${why}; use ${TIME_FORMS}`);
  if (/^\d+$/.test(s)) throw bad('a bare number is ambiguous (epoch ns need 16+ digits; add a unit for an age: 10m)');
  if (!ISO_WITH_ZONE.test(s)) {
    if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$/i.test(s)) throw bad('a time without a zone is ambiguous (add Z or +hh:mm)');
    throw bad('not a form this command reads');
  }
  const ms = Date.parse(s.replace(' ', 'T'));
  if (Number.isNaN(ms)) throw bad('not a valid date');
  // Date.parse stops at milliseconds; keep any finer digits the text has.
  const frac = /\.(\d{4,9})/.exec(s);
  const subMs = frac ? BigInt(frac[1]!.padEnd(9, '0').slice(3)) : 0n;
  return BigInt(ms) * 1_000_000n + subMs;
}
