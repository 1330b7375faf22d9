// Fingerprints of secrets: keyed, so the store never holds anything that can
// be checked against a guess without the store's key.
//
// Exact: HMAC-SHA-256(key, form) of the secret and of its base64, base64url
// and hex forms, truncated to 128 bits. A secret read again (renamed copy,
// pasted elsewhere, or decoded back from an encoding) has the same raw hash;
// a file holding the encoded form as a value matches the encoded hash.
//
// Shingles: for blocks too large or too laid-out to match whole (PEM bodies,
// a key inside a file that was base64-encoded whole), winnowed k-grams
// (Schleimer et al., SIGMOD 2003). Text is cut into runs of the base64/hex
// alphabet with line breaks and indentation removed; every k-gram of a run
// gets a fast unkeyed hash used only to choose (the minimum of each window of
// w), and the chosen k-grams get a keyed hash: SHA-256(shingle key || gram),
// 64 bits, where the shingle key is HMAC-SHA-256(store key, a fixed label).
// For inputs of one fixed length (16 bytes) a secret prefix is a sound keyed
// hash (length extension only reaches longer inputs) at a third of HMAC's
// cost; there are many grams. Any run shared by two texts of at least k+w-1
// characters yields a shared shingle.
//
// Base64 alignment: base64 maps 3 bytes to 4 characters, so the encoding of a
// file shows a secret inside it in one of three ways, by its offset mod 3.
// For each shift s in 0..2 we shingle base64(secret[s..]) cut to whole
// 3-byte groups: that string appears verbatim in the base64 of any file that
// holds the secret at an offset ≡ -s (mod 3). Hex has no alignment issue.
import crypto from 'node:crypto';

export const SHINGLE_K = 16;
export const SHINGLE_W = 16;
/** the shortest shared run that is sure to share a shingle */
export const SHINGLE_GUARANTEE = SHINGLE_K + SHINGLE_W - 1;
/** shingles kept per set, by hash-value sampling (consistent across texts) */
export const MAX_SHINGLES_PER_SET = 128;

export type ExactForm = 'raw' | 'base64' | 'base64url' | 'hex';
export type ShingleForm = 'raw' | 'base64+0' | 'base64+1' | 'base64+2' | 'hex';

export interface SecretFingerprint {
  /** HMAC of the secret itself (hex, 128 bits): its identity */
  id: string;
  exact: { form: ExactForm; hash: string }[];
  /** sampled winnowed shingles (hex, 64 bits) per form; only for secrets of at least SHINGLE_GUARANTEE characters */
  shingles: { form: ShingleForm; hashes: string[] }[];
}

/** What a scan of new content offers for matching: never stored, never the secret. */
export interface ContentProbe {
  exact: Set<string>;
  shingles: Set<string>;
}

// HMAC-SHA-256 (RFC 2104) assembled from one-shot SHA-256 calls over buffers
// that hold the key's inner and outer blocks already: a quarter of the cost
// of createHmac() per short message, same output (tested). Node < 20.12 has
// no crypto.hash: createHmac then.
const oneShot = (crypto as { hash?: (alg: string, data: Uint8Array, enc: 'hex') => string }).hash;
const primed = new WeakMap<Uint8Array, { ipad: Buffer; outer: Buffer; scratch: Map<number, Buffer> }>();

function primedFor(key: Uint8Array) {
  let p = primed.get(key);
  if (!p) {
    const block = Buffer.alloc(64);
    (key.length > 64 ? crypto.createHash('sha256').update(key).digest() : Buffer.from(key)).copy(block);
    p = { ipad: Buffer.from(block.map((b) => b ^ 0x36)), outer: Buffer.alloc(96), scratch: new Map() };
    Buffer.from(block.map((b) => b ^ 0x5c)).copy(p.outer);
    primed.set(key, p);
  }
  return p;
}

export function keyedHash(key: Uint8Array, data: string | Uint8Array, bytes = 16): string {
  const message = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
  if (!oneShot) return crypto.createHmac('sha256', key).update(message).digest('hex').slice(0, bytes * 2);
  const p = primedFor(key);
  // short messages (k-grams, tokens) reuse a buffer of their length holding ipad
  let inner = message.length <= 128 ? p.scratch.get(message.length) : undefined;
  if (!inner) {
    inner = Buffer.concat([p.ipad, message]);
    if (message.length <= 128) p.scratch.set(message.length, inner);
  } else {
    inner.set(message, 64);
  }
  p.outer.write(oneShot('sha256', inner, 'hex'), 64, 'hex');
  return oneShot('sha256', p.outer, 'hex').slice(0, bytes * 2);
}

const RUN = new Uint8Array(256);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_-') RUN[c.charCodeAt(0)] = 1;

/**
 * Runs of the base64/hex alphabet, at least `minLength` long, as encoders and
 * key files lay them out: a line that is all run (after indentation) joins
 * the next line, so wrapped base64, `xxd -p` hex and PEM bodies (also with
 * JSON "\\n" escapes or YAML indentation) are one run. Anything else ends a
 * run: a space inside a line (prose), a line with other text on it, and an
 * '=' followed by more run characters (an assignment `KEY=value`, where base64
 * has '=' only as trailing padding). Normalising the same way on both sides
 * is what lets a stored secret's shingles meet a new file's.
 */
export function alphabetRuns(text: string, minLength = SHINGLE_GUARANTEE): string[] {
  const runs: string[] = [];
  const n = text.length;
  let pieces: string[] = [];
  let runLength = 0;
  const flush = () => {
    if (runLength >= minLength) runs.push(pieces.join(''));
    pieces = [];
    runLength = 0;
  };
  const isRun = (i: number) => { const c = text.charCodeAt(i); return c < 256 && RUN[c] === 1; };
  /** index after a line break at i (real, or a "\n" escape), or i when there is none */
  const breakEnd = (i: number) => {
    let j = i;
    while (j < n && (text.charCodeAt(j) === 0x0d || text.charCodeAt(j) === 0x0a)) j++;
    if (j === i && text.charCodeAt(i) === 0x5c && text.charCodeAt(i + 1) === 0x6e) j = i + 2;
    return j;
  };
  let i = 0;
  let lineStart = true;
  while (i < n) {
    if (!isRun(i)) {
      const j = breakEnd(i);
      if (j > i) { flush(); i = j; lineStart = true; continue; }
      const c = text.charCodeAt(i);
      if (lineStart && (c === 0x20 || c === 0x09)) { i++; continue; } // indentation
      flush();
      lineStart = false;
      i++;
      // Until the next run character, line break or "\n" escape, other
      // characters change nothing (the run is flushed, the line has text):
      // skip them in a tight loop. Binary content is mostly this; a pass
      // of the whole loop per character made this function half of a scan
      // of random bytes with shingles (26 ms per 256 KiB).
      while (i < n) {
        const d = text.charCodeAt(i);
        if ((d < 256 && RUN[d] === 1) || d === 0x0a || d === 0x0d || d === 0x5c) break;
        i++;
      }
      continue;
    }
    // a piece of run characters
    const wholeLine = lineStart;
    let j = i;
    while (j < n && isRun(j)) {
      if (text.charCodeAt(j) === 0x3d && j + 1 < n && isRun(j + 1) && text.charCodeAt(j + 1) !== 0x3d) break; // "KEY=value"
      j++;
    }
    if (!wholeLine) flush();
    pieces.push(text.slice(i, j));
    runLength += j - i;
    if (j < n && text.charCodeAt(j) === 0x3d) { flush(); i = j + 1; lineStart = false; continue; }
    const after = breakEnd(j);
    if (wholeLine && after > j) {
      // the line was all run: the run goes on after the break and the next line's indentation
      let k = after;
      while (k < n && (text.charCodeAt(k) === 0x20 || text.charCodeAt(k) === 0x09)) k++;
      i = k;
      lineStart = true;
      if (!(k < n && isRun(k))) flush();
      continue;
    }
    flush();
    i = j;
    lineStart = false;
  }
  flush();
  return runs;
}

// Selection hashes: a polynomial rolling hash over the k-gram (mod 2^32, one
// multiply per character) through a murmur finaliser, so every position costs
// O(1) whatever k is. Never stored: only chooses which grams get keyed.
const BASE = 0x01000193;
const BASE_K = (() => { let p = 1; for (let i = 0; i < SHINGLE_K - 1; i++) p = Math.imul(p, BASE); return p; })(); // BASE^(k-1)

function fmix(h: number): number {
  h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b); h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35); h ^= h >>> 16;
  return h >>> 0;
}

function gramHashes(run: string): Uint32Array {
  const grams = run.length - SHINGLE_K + 1;
  const hashes = new Uint32Array(Math.max(0, grams));
  if (grams <= 0) return hashes;
  let h = 0;
  for (let j = 0; j < SHINGLE_K; j++) h = (Math.imul(h, BASE) + run.charCodeAt(j)) | 0;
  hashes[0] = fmix(h);
  for (let i = 1; i < grams; i++) {
    h = (Math.imul(h - Math.imul(run.charCodeAt(i - 1), BASE_K), BASE) + run.charCodeAt(i + SHINGLE_K - 1)) | 0;
    hashes[i] = fmix(h);
  }
  return hashes;
}

/**
 * Start offsets of the k-grams winnowing selects in `run`: per window of w
 * grams, the minimum hash; on a tie the previous pick is kept while it is in
 * the window ("robust winnowing"), so repetitive text (a run of one
 * character) selects one gram per window rather than every gram. Shared runs
 * still share a shingle: both texts select a gram of the window's minimal
 * hash, i.e. the same gram.
 */
export function winnow(run: string, hashes = gramHashes(run)): number[] {
  const grams = hashes.length;
  if (grams === 0) return [];
  const selected: number[] = [];
  const deque = new Int32Array(grams); // positions, hashes strictly increasing; the front is the rightmost minimum
  let head = 0;
  let tail = 0;
  let last = -1;
  for (let i = 0; i < grams; i++) {
    while (tail > head && hashes[deque[tail - 1]] >= hashes[i]) tail--;
    deque[tail++] = i;
    if (deque[head] <= i - SHINGLE_W) head++;
    if (i < SHINGLE_W - 1 && i !== grams - 1) continue;
    const windowStart = Math.max(0, i - SHINGLE_W + 1);
    const min = hashes[deque[head]];
    if (last >= windowStart && hashes[last] === min) continue;
    last = deque[head];
    selected.push(last);
  }
  return selected;
}

const SHINGLE_KEY_LABEL = 'agent-sensor/dlp/shingles/v1';
const shingleKeys = new WeakMap<Uint8Array, Buffer>();

/** A buffer holding the shingle key (32 bytes) then room for one gram. */
function shingleBuffer(key: Uint8Array): Buffer {
  let b = shingleKeys.get(key);
  if (!b) {
    b = Buffer.alloc(32 + SHINGLE_K);
    Buffer.from(keyedHash(key, SHINGLE_KEY_LABEL, 32), 'hex').copy(b);
    shingleKeys.set(key, b);
  }
  return b;
}

/** The keyed 64-bit hash of one k-gram (latin1, SHINGLE_K characters). */
export function shingleHash(key: Uint8Array, gram: string): string {
  const b = shingleBuffer(key);
  b.write(gram, 32, SHINGLE_K, 'latin1');
  return oneShot ? oneShot('sha256', b, 'hex').slice(0, 16) : crypto.createHash('sha256').update(b).digest('hex').slice(0, 16);
}

/** Keyed shingles of every run in `text`. */
export function shinglesOf(key: Uint8Array, text: string, into = new Set<string>()): Set<string> {
  // a gram repeated in the text is keyed once: grams seen, by selection hash
  const seen = new Map<number, string | string[]>();
  const firstTime = (h: number, gram: string): boolean => {
    const prev = seen.get(h);
    if (prev === undefined) { seen.set(h, gram); return true; }
    if (prev === gram || (Array.isArray(prev) && prev.includes(gram))) return false;
    seen.set(h, Array.isArray(prev) ? [...prev, gram] : [prev, gram]);
    return true;
  };
  for (const run of alphabetRuns(text)) {
    const hashes = gramHashes(run);
    for (const at of winnow(run, hashes)) {
      const gram = run.slice(at, at + SHINGLE_K);
      if (firstTime(hashes[at], gram)) into.add(shingleHash(key, gram));
    }
  }
  return into;
}

/** Keeps the hashes whose low bits are zero, with as few bits as bring the set under the cap. */
function sample(hashes: Set<string>): string[] {
  let all = [...hashes];
  for (let bits = 1; all.length > MAX_SHINGLES_PER_SET; bits++) {
    const mask = (1 << bits) - 1;
    all = [...hashes].filter((h) => (parseInt(h.slice(-4), 16) & mask) === 0);
  }
  return all.sort();
}

function base64Shifted(bytes: Buffer, shift: number): string {
  const body = bytes.subarray(shift);
  return body.subarray(0, body.length - (body.length % 3)).toString('base64');
}

/**
 * The fingerprint of one secret. `secret` and `block` are latin1 strings of
 * the bytes read (as the scanners see them); `block` is the larger region to
 * shingle when there is one (a PEM body as laid out), else the secret.
 */
export function fingerprintSecret(key: Uint8Array, secret: string, block?: string): SecretFingerprint {
  const bytes = Buffer.from(secret, 'latin1');
  const exact: SecretFingerprint['exact'] = [
    { form: 'raw', hash: keyedHash(key, bytes) },
    { form: 'base64', hash: keyedHash(key, bytes.toString('base64')) },
    { form: 'base64url', hash: keyedHash(key, bytes.toString('base64url')) },
    { form: 'hex', hash: keyedHash(key, bytes.toString('hex')) },
  ];
  const material = Buffer.from(block ?? secret, 'latin1');
  const shingles: SecretFingerprint['shingles'] = [];
  if (material.length >= SHINGLE_GUARANTEE) {
    const forms: [ShingleForm, string][] = [
      ['raw', material.toString('latin1')],
      ['base64+0', base64Shifted(material, 0)],
      ['base64+1', base64Shifted(material, 1)],
      ['base64+2', base64Shifted(material, 2)],
      ['hex', material.toString('hex')],
    ];
    for (const [form, text] of forms) {
      const set = shinglesOf(key, text);
      if (set.size > 0) shingles.push({ form, hashes: sample(set) });
    }
  }
  return { id: exact[0].hash, exact, shingles };
}
