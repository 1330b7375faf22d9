// Path globs without backtracking.
//
// `*` and `?` never cross `/`, `**` does (and `**/` also matches nothing, so
// `~/**/x` matches `~/x`), `[abc]`, `[a-z]` and `[!abc]` match one character
// other than `/`, `{a,b}` expands into alternatives (not nested). Matching
// simulates the glob as an NFA over the set of live token positions, so a
// hostile 4 KiB path against a glob full of `**` costs O(path x glob), never
// the exponential time a backtracking regex can take.

type Token =
  | { kind: 'literal'; char: number }
  | { kind: 'one' }
  | { kind: 'star' }
  | { kind: 'globstar'; dirs: boolean } // dirs: `**/`, which may also match nothing
  | { kind: 'class'; ranges: number[]; negated: boolean };

export class GlobError extends Error {}

const SLASH = 0x2f;
const MAX_ALTERNATIVES = 64;

/** `{a,b}c` -> [`ac`, `bc`]; one level of braces, any number of groups. */
function expandBraces(glob: string): string[] {
  const open = glob.indexOf('{');
  if (open < 0) {
    if (glob.includes('}')) throw new GlobError(`unbalanced "}" in glob ${JSON.stringify(glob)}`);
    return [glob];
  }
  const close = glob.indexOf('}', open);
  if (close < 0) throw new GlobError(`unbalanced "{" in glob ${JSON.stringify(glob)}`);
  const inner = glob.slice(open + 1, close);
  if (inner.includes('{')) throw new GlobError(`nested "{" in glob ${JSON.stringify(glob)}`);
  const out: string[] = [];
  for (const alt of inner.split(',')) {
    for (const rest of expandBraces(glob.slice(close + 1))) {
      out.push(glob.slice(0, open) + alt + rest);
      if (out.length > MAX_ALTERNATIVES) throw new GlobError(`glob ${JSON.stringify(glob)} expands to more than ${MAX_ALTERNATIVES} alternatives`);
    }
  }
  return out;
}

function tokenize(glob: string): Token[] {
  const tokens: Token[] = [];
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*') {
      if (glob[i + 1] === '*') {
        const atStart = i === 0 || glob[i - 1] === '/';
        let j = i + 2;
        while (glob[j] === '*') j++;
        if (atStart && glob[j] === '/') {
          tokens.push({ kind: 'globstar', dirs: true });
          i = j; // the '/' belongs to the token
        } else {
          tokens.push({ kind: 'globstar', dirs: false });
          i = j - 1;
        }
      } else {
        tokens.push({ kind: 'star' });
      }
    } else if (c === '?') {
      tokens.push({ kind: 'one' });
    } else if (c === '[') {
      const close = glob.indexOf(']', i + 2);
      if (close < 0) throw new GlobError(`unbalanced "[" in glob ${JSON.stringify(glob)}`);
      let body = glob.slice(i + 1, close);
      const negated = body.startsWith('!') || body.startsWith('^');
      if (negated) body = body.slice(1);
      const ranges: number[] = [];
      for (let k = 0; k < body.length; k++) {
        const lo = body.charCodeAt(k);
        if (body[k + 1] === '-' && k + 2 < body.length) {
          ranges.push(lo, body.charCodeAt(k + 2));
          k += 2;
        } else {
          ranges.push(lo, lo);
        }
      }
      tokens.push({ kind: 'class', ranges, negated });
      i = close;
    } else if (c === '\\' && i + 1 < glob.length) {
      tokens.push({ kind: 'literal', char: glob.charCodeAt(++i) });
    } else {
      tokens.push({ kind: 'literal', char: glob.charCodeAt(i) });
    }
  }
  return tokens;
}

function classMatches(t: { ranges: number[]; negated: boolean }, c: number): boolean {
  if (c === SLASH) return false;
  let hit = false;
  for (let k = 0; k < t.ranges.length; k += 2) if (c >= t.ranges[k] && c <= t.ranges[k + 1]) { hit = true; break; }
  return hit !== t.negated;
}

// State sets of the NFA, reused by every run (matching is synchronous): four
// rows of n+1 flags in one array, addressed by offset so a run allocates nothing.
let scratch = new Uint8Array(256);

/** Sets the epsilon moves of row `base`: a live `*` or `**` may match nothing. */
function close(tokens: Token[], set: Uint8Array, base: number): void {
  for (let i = 0; i < tokens.length; i++) {
    if (set[base + i] && (tokens[i].kind === 'star' || tokens[i].kind === 'globstar')) set[base + i + 1] = 1;
  }
}

/** Runs one tokenized glob over `s` from `from`: true when the whole rest matches. */
function run(tokens: Token[], s: string, from: number): boolean {
  const n = tokens.length;
  const row = n + 1;
  if (scratch.length < 4 * row) scratch = new Uint8Array(8 * row);
  const set = scratch;
  set.fill(0, 0, 4 * row);
  // rows: live, next, and for `**/` tokens "inside, waiting for a '/' to finish" (and its next)
  let live = 0;
  let next = row;
  let inside = 2 * row;
  let nextInside = 3 * row;
  set[live] = 1;
  close(tokens, set, live);
  for (let p = from; p < s.length; p++) {
    const c = s.charCodeAt(p);
    set.fill(0, next, next + row);
    set.fill(0, nextInside, nextInside + row);
    let any = false;
    for (let i = 0; i < n; i++) {
      if (set[inside + i]) {
        // inside a `**/`: any char keeps us inside; a '/' may also finish it
        set[nextInside + i] = 1;
        any = true;
        if (c === SLASH) set[next + i + 1] = 1;
      }
      if (!set[live + i]) continue;
      const t = tokens[i];
      switch (t.kind) {
        case 'literal': if (c === t.char) { set[next + i + 1] = 1; any = true; } break;
        case 'one': if (c !== SLASH) { set[next + i + 1] = 1; any = true; } break;
        case 'class': if (classMatches(t, c)) { set[next + i + 1] = 1; any = true; } break;
        case 'star': if (c !== SLASH) { set[next + i] = 1; any = true; } break;
        case 'globstar':
          any = true;
          if (t.dirs) {
            set[nextInside + i] = 1;
            if (c === SLASH) set[next + i + 1] = 1;
          } else {
            set[next + i] = 1;
          }
          break;
      }
    }
    if (!any) return false;
    close(tokens, set, next);
    const l = live; live = next; next = l;
    const q = inside; inside = nextInside; nextInside = q;
  }
  return set[live + n] === 1;
}

export interface CompiledGlob {
  source: string;
  /** the literal text every match starts with (the common head of its alternatives) */
  head: string;
  /** true when the glob matches all of `s` from `from` on */
  matches(s: string, from?: number): boolean;
}

function commonPrefix(a: string, b: string): string {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return a.slice(0, i);
}

/** Compiles a glob; throws GlobError on a malformed one. */
export function compileGlob(glob: string): CompiledGlob {
  if (glob.length === 0) throw new GlobError('empty glob');
  const alternatives = expandBraces(glob).map((alt) => {
    const tokens = tokenize(alt);
    // Literal head and tail reject most paths before the NFA runs.
    let head = '';
    for (const t of tokens) { if (t.kind !== 'literal') break; head += String.fromCharCode(t.char); }
    let tail = '';
    for (let i = tokens.length - 1; i >= 0; i--) {
      const t = tokens[i];
      if (t.kind !== 'literal') break;
      tail = String.fromCharCode(t.char) + tail;
    }
    // The longest literal stretch anywhere: a path without it cannot match.
    let needle = '';
    let cur = '';
    for (const t of tokens) {
      if (t.kind === 'literal') { cur += String.fromCharCode(t.char); if (cur.length > needle.length) needle = cur; } else cur = '';
    }
    return { tokens, head, tail, needle, literal: head.length === tokens.length };
  });
  return {
    source: glob,
    head: alternatives.map((a) => a.head).reduce(commonPrefix),
    matches: (s: string, from = 0) => alternatives.some((a) => {
      if (a.literal) return s.length - from === a.head.length && s.startsWith(a.head, from);
      if (!s.startsWith(a.head, from) || !s.endsWith(a.tail) || s.length - from < a.head.length + a.tail.length) return false;
      if (a.needle.length > a.head.length && a.needle.length > a.tail.length && s.indexOf(a.needle, from) < 0) return false;
      return run(a.tokens, s, from);
    }),
  };
}
