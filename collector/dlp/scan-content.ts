// scanContent(): the DLP pass over what an agent read, beside the SHA-256
// pass. It looks at the first `maxBytes` of the content (bounded cost per
// file), never throws (a scanner that fails is reported in `errors` and the
// others still run), and returns per class a count, byte offsets and keyed
// fingerprints: never the secret itself. It also returns a probe (keyed
// hashes of the secrets and shingles of the content) to match against the
// fingerprints of secrets seen before (FingerprintIndex), and forgets it.
//
// Encoded content: runs of base64 or hex long enough to hide a secret are
// decoded (up to the same byte budget) and scanned once more, so the base64
// of a file holding a key is a `private-key` finding with `encoding: base64`
// and the key's own fingerprint.
import { scanAwsKeys } from './aws-keys.js';
import { fingerprintSecret, keyedHash, shinglesOf, type ContentProbe, type SecretFingerprint } from './fingerprint.js';
import { scanGenericSecrets } from './generic-secret.js';
import { scanJwts } from './jwt.js';
import { scanCardNumbers, scanSsns } from './pii.js';
import { scanPrivateKeys } from './private-keys.js';
import { B64STD, inTable, runEnd } from './runs.js';
import { DLP_CLASSES, type DlpClass, type RawHit, type Scanner } from './types.js';
import { scanVendorTokens } from './vendor-tokens.js';

export const DEFAULT_MAX_SCAN_BYTES = 1024 * 1024;
export const MAX_OFFSETS_PER_CLASS = 64;
export const MAX_FINGERPRINTS_PER_CLASS = 32;
const MIN_ENCODED_RUN = 64;
const MAX_ENCODED_RUNS = 256;

/** Class-specific scanners first: a generic assignment over a known token is that token. */
const SCANNERS: [string, Scanner][] = [
  ['private-keys', scanPrivateKeys],
  ['aws-keys', scanAwsKeys],
  ['vendor-tokens', scanVendorTokens],
  ['jwts', scanJwts],
  ['ssns', scanSsns],
  ['cards', scanCardNumbers],
  ['generic', scanGenericSecrets],
];

export interface DlpFinding {
  class: DlpClass;
  /** occurrences in the scanned bytes */
  count: number;
  /** byte offsets of the first MAX_OFFSETS_PER_CLASS occurrences (of the encoded run when decoded) */
  offsets: number[];
  /** one per distinct secret, at most MAX_FINGERPRINTS_PER_CLASS */
  fingerprints: SecretFingerprint[];
  /** set when (some of) the occurrences were inside base64/hex-encoded runs */
  encodings?: ('base64' | 'hex')[];
}

export interface DlpScan {
  findings: DlpFinding[];
  /** in-memory only: match it with FingerprintIndex.match(), then drop it */
  probe: ContentProbe;
  scannedBytes: number;
  /** the content was longer than maxBytes */
  truncated: boolean;
  /** scanners that failed on this content (their findings are missing) */
  errors: string[];
}

export interface ScanOptions {
  maxBytes?: number;
  /** also decode and scan base64/hex runs (default true) */
  decode?: boolean;
  /**
   * compute the probe's shingles (default true): they cost a keyed hash per
   * ~8 characters of base64/hex runs, and only matter when the index holds
   * shingles (FingerprintIndex.hasShingles)
   */
  shingles?: boolean;
}

function runScanners(text: string, errors: string[], taken = new Uint8Array(text.length)): RawHit[] {
  const hits: RawHit[] = [];
  // `taken`: bytes already explained by a hit: a hit over them is the same secret seen by a broader scanner
  const free = (h: RawHit) => { for (let i = h.start; i < h.end; i++) if (taken[i]) return false; return true; };
  for (const [name, scan] of SCANNERS) {
    try {
      for (const h of scan(text)) {
        if (!free(h)) continue;
        taken.fill(1, h.start, h.end);
        hits.push(h);
      }
    } catch (err) {
      errors.push(`${name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return hits;
}

/** Index after up to two '=' of padding at i. */
function afterPadding(text: string, i: number): number {
  let e = i;
  while (e < text.length && e - i < 2 && text.charCodeAt(e) === 0x3d) e++;
  return e;
}

/**
 * base64 and hex runs worth decoding (a line of 16+ alphabet characters, and
 * the lines of 4+ that follow it, as `base64` wraps them), outside spans
 * already explained by a hit. One pass over the text: no regex retries a
 * run at each of its characters.
 */
function encodedRuns(text: string, taken: Uint8Array): { start: number; data: Buffer; encoding: 'base64' | 'hex' }[] {
  const out: { start: number; data: Buffer; encoding: 'base64' | 'hex' }[] = [];
  const n = text.length;
  let i = 0;
  while (i < n && out.length < MAX_ENCODED_RUNS) {
    if (!inTable(text, i, B64STD)) { i++; continue; }
    const start = i;
    const firstEnd = runEnd(text, i, B64STD);
    if (firstEnd - start < 16) { i = firstEnd; continue; }
    let end = afterPadding(text, firstEnd);
    const parts = [text.slice(start, end)];
    for (;;) {
      let k = end;
      if (text.charCodeAt(k) === 0x0d) k++;
      if (text.charCodeAt(k) !== 0x0a) break;
      const lineEnd = runEnd(text, k + 1, B64STD);
      if (lineEnd - k - 1 < 4) break;
      const padded = afterPadding(text, lineEnd);
      parts.push(text.slice(k + 1, padded));
      end = padded;
    }
    i = end;
    const run = parts.join('');
    if (run.length < MIN_ENCODED_RUN) continue;
    if (taken.subarray(start, end).includes(1)) continue; // runs are disjoint: linear overall
    if (/^[0-9a-fA-F]+$/.test(run)) {
      if (run.length % 2 === 0) out.push({ start, data: Buffer.from(run, 'hex'), encoding: 'hex' });
    } else {
      out.push({ start, data: Buffer.from(run.slice(0, run.length - (run.length % 4)), 'base64'), encoding: 'base64' });
    }
  }
  return out;
}

/**
 * Scans `bytes` for secrets and personal data; `key` is the store's
 * fingerprint key (at least 16 bytes). Never throws on any content.
 */
export function scanContent(bytes: Uint8Array, key: Uint8Array, opts: ScanOptions = {}): DlpScan {
  if (key.length < 16) throw new RangeError('the fingerprint key must be at least 16 bytes');
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_SCAN_BYTES;
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, maxBytes));
  const text = view.toString('latin1');
  const errors: string[] = [];
  const taken = new Uint8Array(text.length);
  const hits = runScanners(text, errors, taken);
  // Shorter text holds no run worth decoding; skipping it also keeps the
  // one- and zero-character strings (another string map) out of
  // encodedRuns' type feedback, which made V8 drop its optimized code.
  if (opts.decode !== false && text.length >= MIN_ENCODED_RUN) {
    let budget = maxBytes;
    try {
      for (const run of encodedRuns(text, taken)) {
        if (budget <= 0) break;
        budget -= run.data.length;
        for (const h of runScanners(run.data.subarray(0, Math.max(0, budget + run.data.length)).toString('latin1'), errors)) {
          hits.push({ ...h, start: run.start, end: run.start, encoding: run.encoding });
        }
      }
    } catch (err) {
      errors.push(`decode: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const probe: ContentProbe = { exact: new Set(), shingles: new Set() };
  const findings = new Map<DlpClass, DlpFinding & { seen: Set<string> }>();
  for (const h of hits) {
    const id = keyedHash(key, h.secret);
    probe.exact.add(id);
    let f = findings.get(h.class);
    if (!f) {
      f = { class: h.class, count: 0, offsets: [], fingerprints: [], seen: new Set() };
      findings.set(h.class, f);
    }
    f.count++;
    if (f.offsets.length < MAX_OFFSETS_PER_CLASS) f.offsets.push(h.start);
    if (h.encoding && !(f.encodings ??= []).includes(h.encoding)) f.encodings.push(h.encoding);
    if (!f.seen.has(id) && f.fingerprints.length < MAX_FINGERPRINTS_PER_CLASS) {
      f.seen.add(id);
      f.fingerprints.push(fingerprintSecret(key, h.secret, h.block));
    }
  }
  if (opts.shingles !== false) {
    try {
      shinglesOf(key, text, probe.shingles);
    } catch (err) {
      errors.push(`shingles: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const ordered = [...findings.values()]
    .sort((a, b) => DLP_CLASSES.indexOf(a.class) - DLP_CLASSES.indexOf(b.class))
    .map(({ seen: _seen, ...f }) => ({ ...f, offsets: f.offsets.sort((a, b) => a - b) }));
  return { findings: ordered, probe, scannedBytes: view.length, truncated: bytes.byteLength > maxBytes, errors };
}
