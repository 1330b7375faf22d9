// Linear-time building blocks: character tables and "run" scanning. A token
// is found by its literal prefix (indexOf-speed regex), then its body is the
// maximal run of its alphabet, scanned once; the search resumes after the run,
// so no character is examined more than a bounded number of times whatever
// the input (no regex backtracking over a body).

export type CharTable = Uint8Array;

/** A byte table from a character-class body: ranges `a-z`, `\\` escapes the next character. */
export function charTable(chars: string): CharTable {
  const t = new Uint8Array(256);
  for (let i = 0; i < chars.length; i++) {
    let c = chars.charCodeAt(i);
    if (chars[i] === '\\' && i + 1 < chars.length) c = chars.charCodeAt(++i);
    if (chars[i + 1] === '-' && i + 2 < chars.length) {
      const hi = chars.charCodeAt(i + 2);
      for (let x = c; x <= hi; x++) t[x] = 1;
      i += 2;
    } else {
      t[c] = 1;
    }
  }
  return t;
}

export const ALNUM = charTable('A-Za-z0-9');
export const B64URL = charTable('A-Za-z0-9_\\-');
export const B64STD = charTable('A-Za-z0-9+/');
export const WORDISH = charTable('A-Za-z0-9_');

/** Index just past the run of `table` characters starting at `from` (at most `limit` long). */
export function runEnd(text: string, from: number, table: CharTable, limit = Infinity): number {
  let i = from;
  const stop = Math.min(text.length, from + limit);
  while (i < stop) {
    const c = text.charCodeAt(i);
    if (c > 255 || !table[c]) break;
    i++;
  }
  return i;
}

export function inTable(text: string, i: number, table: CharTable): boolean {
  if (i < 0 || i >= text.length) return false;
  const c = text.charCodeAt(i);
  return c < 256 && table[c] === 1;
}

export interface PrefixedToken {
  /** start of the prefix */
  start: number;
  /** start of the body (after the prefix) */
  bodyStart: number;
  /** end of the maximal body run */
  end: number;
  /** the prefix as matched */
  prefix: string;
}

/**
 * Every occurrence of `prefix` (a global regex of literal alternatives) not
 * preceded by a `before` character, with its body: the maximal run of `body`
 * characters after it. Runs longer than `maxBody` are still consumed whole
 * (and reported) so the caller can reject them, and never rescanned.
 */
export function* prefixedTokens(text: string, prefix: RegExp, body: CharTable, before: CharTable, maxBody = 4096): Generator<PrefixedToken> {
  prefix.lastIndex = 0;
  for (let m = prefix.exec(text); m; m = prefix.exec(text)) {
    const start = m.index;
    const bodyStart = start + m[0].length;
    const end = runEnd(text, bodyStart, body, maxBody + 1);
    const skipTo = end > bodyStart ? runEnd(text, end, body) : bodyStart;
    prefix.lastIndex = Math.max(skipTo, start + 1);
    if (inTable(text, start - 1, before)) continue;
    yield { start, bodyStart, end, prefix: m[0] };
  }
}
