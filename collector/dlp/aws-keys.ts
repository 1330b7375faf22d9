// AWS access key pairs: an access key id (AKIA… long-term, ASIA… temporary:
// 4 letters + 16 base32 characters) with a 40-character secret access key
// near it. The id alone is an account identifier, not a secret; the pair is.
// The secret is what gets fingerprinted.
import { B64STD, charTable, inTable, runEnd } from './runs.js';
import { entropy, isPlaceholder } from './text-checks.js';
import type { RawHit } from './types.js';

const KEY_ID = /(?:AKIA|ASIA)[A-Z2-7]{16}/g;
const ALNUM = charTable('A-Za-z0-9');
const PAIR_WINDOW = 1024;

interface Span { start: number; end: number }

/** Every run of exactly 40 base64 characters that looks like a secret access key, in one pass. */
function secretCandidates(text: string): Span[] {
  const out: Span[] = [];
  let i = 0;
  while (i < text.length) {
    if (!inTable(text, i, B64STD)) { i++; continue; }
    const end = runEnd(text, i, B64STD);
    // the run is maximal; a '=' after it would make it the middle of a longer base64 text
    if (end - i === 40 && text[end] !== '=') {
      const s = text.slice(i, end);
      // Secrets are random: mixed case, high entropy; a 40-hex git object id is not one.
      if (/[a-z]/.test(s) && /[A-Z]/.test(s) && !/^[0-9a-fA-F]+$/.test(s) && entropy(s) >= 4.0 && !isPlaceholder(s)) out.push({ start: i, end });
    }
    i = end;
  }
  return out;
}

export function scanAwsKeys(text: string): RawHit[] {
  const ids: Span[] = [];
  KEY_ID.lastIndex = 0;
  for (let m = KEY_ID.exec(text); m; m = KEY_ID.exec(text)) {
    const end = m.index + m[0].length;
    if (inTable(text, m.index - 1, ALNUM) || inTable(text, end, ALNUM) || isPlaceholder(m[0])) continue;
    ids.push({ start: m.index, end });
  }
  if (ids.length === 0) return [];
  const secrets = secretCandidates(text);
  const hits: RawHit[] = [];
  let j = 0;
  for (const id of ids) {
    // nearest candidate within the window, either side (both lists are sorted)
    while (j < secrets.length && secrets[j].end < id.start - PAIR_WINDOW) j++;
    let best: Span | undefined;
    let bestDistance = Infinity;
    for (let k = j; k < secrets.length && secrets[k].start <= id.end + PAIR_WINDOW; k++) {
      const d = secrets[k].start >= id.end ? secrets[k].start - id.end : id.start - secrets[k].end;
      if (d >= 0 && d < bestDistance) { best = secrets[k]; bestDistance = d; }
    }
    if (!best) continue;
    hits.push({
      class: 'aws-access-key',
      start: Math.min(id.start, best.start),
      end: Math.max(id.end, best.end),
      secret: text.slice(best.start, best.end),
    });
  }
  return hits;
}
