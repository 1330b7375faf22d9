// Content DLP: precision and recall per class on the corpus (floors), the
// validators, byte offsets, the byte bound, hostile inputs (no catastrophic
// backtracking, no throw) and that no output carries a secret.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DLP_CLASSES, scanContent } from '../collector/dlp/index.js';
import { scanAwsKeys } from '../collector/dlp/aws-keys.js';
import { scanGenericSecrets } from '../collector/dlp/generic-secret.js';
import { scanJwts } from '../collector/dlp/jwt.js';
import { luhnValid, scanCardNumbers, scanSsns, validCardNumber, validSsn } from '../collector/dlp/pii.js';
import { scanPrivateKeys } from '../collector/dlp/private-keys.js';
import { githubChecksum, scanVendorTokens } from '../collector/dlp/vendor-tokens.js';
import type { RawHit } from '../collector/dlp/types.js';
// @ts-expect-error: plain JS helper shared with bench/dlp.js
import { evaluate, loadCorpus } from './fixtures/dlp/evaluate-corpus.mjs';

const KEY = Buffer.alloc(32, 0x5a);
const classesIn = (text: string) => scanContent(Buffer.from(text, 'utf8'), KEY).findings.map((f) => f.class);

interface Sample { class: string; label: 'positive' | 'negative'; note: string; text: string }
interface Stat { precision: number; recall: number; positives: number; negatives: number; misses: string[]; falseAlarms: string[] }
const corpus = loadCorpus() as Sample[];

const FLOOR = { precision: 0.9, recall: 0.9 };
const MIN_SAMPLES = { positives: 2, negatives: 2 };

/** Every raw hit of every scanner: the secrets the output must never carry. */
const allScanners = (t: string): RawHit[] => [scanPrivateKeys, scanAwsKeys, scanVendorTokens, scanJwts, scanSsns, scanCardNumbers, scanGenericSecrets].flatMap((s) => s(t));

describe('DLP corpus', () => {
  const stats = evaluate(corpus, classesIn) as Record<string, Stat>;

  it('has positives and hard negatives for every class', () => {
    for (const c of DLP_CLASSES) {
      expect(stats[c]?.positives ?? 0, c).toBeGreaterThanOrEqual(MIN_SAMPLES.positives);
      expect(stats[c]?.negatives ?? 0, c).toBeGreaterThanOrEqual(MIN_SAMPLES.negatives);
    }
  });

  for (const c of DLP_CLASSES) {
    it(`${c}: precision and recall at or above the floor`, () => {
      const s = stats[c];
      console.log(`dlp ${c}: precision ${s.precision.toFixed(2)} recall ${s.recall.toFixed(2)} (${s.positives} positives, ${s.negatives} negatives)`);
      expect(s.recall, `${c} recall; missed: ${s.misses.join('; ')}`).toBeGreaterThanOrEqual(FLOOR.recall);
      expect(s.precision, `${c} precision; false alarms: ${s.falseAlarms.join('; ')}`).toBeGreaterThanOrEqual(FLOOR.precision);
    });
  }

  it('the output never carries a secret, in clear, base64 or hex', () => {
    for (const s of corpus.filter((x) => x.label === 'positive')) {
      const text = Buffer.from(s.text, 'utf8').toString('latin1');
      const out = JSON.stringify(scanContent(Buffer.from(s.text, 'utf8'), KEY).findings);
      const secrets = allScanners(text).map((h) => h.secret);
      expect(secrets.length, s.note).toBeGreaterThan(0);
      for (const secret of secrets) {
        const b = Buffer.from(secret, 'latin1');
        for (const form of [secret, b.toString('base64'), b.toString('hex')]) {
          // any 12-character piece of the secret would be a leak
          for (let i = 0; i + 12 <= form.length; i += 6) expect(out.includes(form.slice(i, i + 12)), `${s.note}: ${i}`).toBe(false);
        }
      }
    }
  });
});

describe('DLP validators', () => {
  it('GitHub checksum: CRC-32 of the random part in base62', () => {
    expect(githubChecksum('0'.repeat(31))).toBe('4WZ4EQ');
    const random = 'abcdefghijklmnopqrstuvwxyzABCD';
    const good = `ghp_${random}${githubChecksum(random)}`;
    expect(scanVendorTokens(`t ${good} `).map((h) => h.class)).toEqual(['github-token']);
    const flipped = good.slice(0, 10) + (good[10] === 'x' ? 'y' : 'x') + good.slice(11);
    expect(scanVendorTokens(`t ${flipped} `)).toEqual([]);
  });

  it('Luhn and issuer ranges', () => {
    expect(luhnValid('79927398713')).toBe(true);
    expect(luhnValid('79927398710')).toBe(false);
    expect(validCardNumber('4539148803436467')).toBe(true);
    expect(validCardNumber('4539148803436468')).toBe(false); // Luhn
    expect(validCardNumber('9539148803436464')).toBe(false); // no issuer starts with 9
    expect(validCardNumber('453914880343646')).toBe(false); // Visa is 13, 16 or 19 long
    expect(validCardNumber('4111111111111111')).toBe(false); // published test number
  });

  it('SSN: never-issued areas, groups and serials', () => {
    expect(validSsn('234', '56', '7891')).toBe(true);
    for (const [a, g, s] of [['000', '12', '3456'], ['666', '12', '3456'], ['900', '12', '3456'], ['999', '12', '3456'], ['123', '00', '4567'], ['123', '45', '0000'], ['078', '05', '1120'], ['111', '11', '1111']]) {
      expect(validSsn(a, g, s), `${a}-${g}-${s}`).toBe(false);
    }
  });

  it('private keys: structure checked, a stray BEGIN before a real key does not hide it', () => {
    const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const hits = scanPrivateKeys(`Keys look like "-----BEGIN PRIVATE KEY-----" ... and here is one:\n${pem}`);
    expect(hits.map((h) => h.class)).toEqual(['private-key']);
    expect(hits[0].start).toBeGreaterThan(40);
    const notDer = pem.replace(/\n[A-Za-z0-9+/]{4}/, '\nAAAA').replace('MIG', 'AAA'); // first byte no longer a SEQUENCE
    expect(scanPrivateKeys(notDer)).toEqual([]);
  });

  it('JWT: header must decode to JSON with alg, payload to JSON, with a signature', () => {
    const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const sig = 'x'.repeat(43);
    expect(scanJwts(`${part({ alg: 'HS256' })}.${part({ a: 1 })}.${sig}`)).toHaveLength(1);
    expect(scanJwts(`${part({ alg: 'HS256' })}.${part([1, 2])}.${sig}`)).toHaveLength(0);
    expect(scanJwts(`${part({ alg: 1 })}.${part({ a: 1 })}.${sig}`)).toHaveLength(0);
    expect(scanJwts(`${part({ alg: 'HS256' })}.${part({ a: 1 })}.short`)).toHaveLength(0);
  });
});

describe('scanContent', () => {
  const token = (() => { const r = 'Zq8pWm3LxT7vN2bK9cR4yH6dJ1fG5s'; return `ghp_${r}${githubChecksum(r)}`; })();

  it('reports byte offsets (not character offsets) and counts repeats', () => {
    const text = `é€ ${token}\nagain: ${token}\n`;
    const bytes = Buffer.from(text, 'utf8');
    const [f] = scanContent(bytes, KEY).findings;
    expect(f.class).toBe('github-token');
    expect(f.count).toBe(2);
    expect(f.offsets).toEqual([bytes.indexOf(token), bytes.lastIndexOf(token)]);
    expect(f.fingerprints).toHaveLength(1); // one distinct secret
  });

  it('reads at most maxBytes', () => {
    const bytes = Buffer.from(`${'x'.repeat(5000)}\n${token}\n`);
    const cut = scanContent(bytes, KEY, { maxBytes: 4096 });
    expect(cut.findings).toEqual([]);
    expect(cut.truncated).toBe(true);
    expect(cut.scannedBytes).toBe(4096);
    expect(scanContent(bytes, KEY).findings.map((f) => f.class)).toEqual(['github-token']);
  });

  it('never throws on binary, empty or invalid UTF-8 content; needs a real key', () => {
    const junk = Buffer.alloc(256 * 1024);
    for (let i = 0; i < junk.length; i++) junk[i] = (i * 2654435761) >>> 24;
    for (const b of [Buffer.alloc(0), junk, Buffer.from([0xff, 0xfe, 0x00, 0xc3])]) {
      const r = scanContent(b, KEY);
      expect(r.errors).toEqual([]);
    }
    expect(() => scanContent(Buffer.from('x'), Buffer.alloc(8))).toThrow(RangeError);
  });

  // Each input targets one scanner's pattern with a near-miss repeated to
  // 1 MiB: a backtracking regex takes super-linear time on these and the
  // test times out; the scanners are linear (a bound on time is the bench's
  // job, not this test's).
  const MiB = 1024 * 1024;
  const fill = (piece: string) => piece.repeat(Math.ceil(MiB / piece.length)).slice(0, MiB);
  const hostile: Record<string, string> = {
    'PEM BEGIN without END': fill('-----BEGIN RSA PRIVATE KEY-----\nMIIE'),
    'PEM label of many words': fill('-----BEGIN A B C D E F G H I J '),
    'many BEGINs before each END': fill(`${'-----BEGIN PRIVATE KEY-----\n'.repeat(2000)}-----END PRIVATE KEY-----\n`),
    'sk- chains': fill('sk-'),
    'sk-ant- chains': fill('sk-ant-api03-'),
    'ghp_ prefixes': fill('ghp_a'),
    'xoxb- dashes': fill('xoxb-1-'),
    'eyJ chains': fill('eyJ'),
    'JWT-like dots': fill('eyJhbGciOiJIUzI1NiJ9.'),
    'AKIA ids with no secret': fill('AKIAABCDEFGHIJKLMNOP '),
    'AKIA ids between 40-char runs': fill(`AKIAABCDEFGHIJKLMNOP ${'aB1'.repeat(13)}a `),
    'assignment operators': fill('token='),
    'names without values': fill('password: '),
    'endless Bearer schemes': `Authorization: ${fill('Bearer ')}`,
    'long identifier runs': fill('a'.repeat(1000) + '='),
    'digits with separators': fill('4 1-'),
    'long digit runs': fill('4'),
    'SSN-like chains': fill('123-45-'),
    'base64 run': fill('QUJD'),
    'base64 lines': fill('QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\n'),
    'hex run': fill('0a'),
    'line breaks and indentation': fill('A\n  '),
  };
  for (const [name, text] of Object.entries(hostile)) {
    it(`is linear on hostile input: ${name}`, () => {
      const r = scanContent(Buffer.from(text, 'latin1'), KEY, { maxBytes: MiB });
      expect(r.errors).toEqual([]);
      expect(r.scannedBytes).toBe(MiB);
    });
  }
});
