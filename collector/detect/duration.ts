// Durations in config: "90s", "10m", "3h", "7d", or a number of seconds.
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Milliseconds, or null when the text is not a duration. */
export function parseDuration(v: string | number): number | null {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? v * 1000 : null;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$/.exec(v);
  if (!m) return null;
  return Number(m[1]) * UNIT_MS[m[2] ?? 's']!;
}

/** "3 days", "5 h", "40 min": how long a baseline span is, for alert text. */
export function spanText(ms: number): string {
  const d = ms / 86_400_000;
  if (d >= 2) return `${Math.floor(d)} days`;
  const h = ms / 3_600_000;
  if (h >= 2) return `${Math.floor(h)} h`;
  const min = ms / 60_000;
  if (min >= 1) return `${Math.floor(min)} min`;
  return `${Math.max(0, Math.round(ms / 1000))} s`;
}

export const count = (n: number): string => Math.round(n).toLocaleString('en-US');

/** "1 connect", "1,204 connects". */
export const counted = (n: number, noun: string): string => `${count(n)} ${noun}${Math.round(n) === 1 ? '' : 's'}`;
