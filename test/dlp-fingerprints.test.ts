// Fingerprints: the same secret is recognised when read again from a renamed
// copy, a file it was pasted into, or an encoding (base64 of the whole file
// at each of the three alignments, wrapped or not; hex), and a different
// secret of the same kind is not.
import { execFileSync } from 'node:child_process';
import { createHash, createHmac, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FingerprintIndex, fingerprintSecret, scanContent, type DlpScan } from '../collector/dlp/index.js';
import { alphabetRuns, keyedHash, shingleHash, winnow, SHINGLE_GUARANTEE } from '../collector/dlp/fingerprint.js';
import { githubChecksum } from '../collector/dlp/vendor-tokens.js';

const KEY = randomBytes(32);
const scan = (text: string | Buffer, decode = true): DlpScan => scanContent(typeof text === 'string' ? Buffer.from(text) : text, KEY, { decode });

const work = mkdtempSync(join(tmpdir(), 'dlp-fp-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function opensshKey(type: string): string {
  const f = join(work, `k-${type}-${randomBytes(4).toString('hex')}`);
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', '', '-f', f]);
  return readFileSync(f, 'utf8');
}
const rsaPem = () => generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
const ecPem = () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'sec1', format: 'pem' }) as string;
const ghToken = () => { const r = randomBytes(30).toString('base64').replace(/[^A-Za-z0-9]/g, 'q').slice(0, 30); return `ghp_${r}${githubChecksum(r)}`; };

/** An index of everything `original` holds, keyed by class. */
function indexOf(original: string): FingerprintIndex {
  const index = new FingerprintIndex();
  for (const f of scan(original).findings) f.fingerprints.forEach((fp, i) => index.add(`${f.class}#${i}`, fp));
  expect(index.size).toBeGreaterThan(0);
  return index;
}
const refs = (index: FingerprintIndex, s: DlpScan) => index.match(s.probe).map((m) => m.ref);
const wrap = (s: string, n: number) => s.replace(new RegExp(`(.{${n}})`, 'g'), '$1\n');

describe('fingerprints', () => {
  const pem = rsaPem();
  const ossh = opensshKey('ed25519');
  const token = ghToken();
  const original = `# prod\n${pem}\nGITHUB_TOKEN=${token}\n`;
  const index = indexOf(original);

  it('a renamed copy matches exactly', () => {
    const m = index.match(scan(original).probe);
    expect(m.map((x) => [x.ref, x.via, x.form]).sort()).toEqual([['github-token#0', 'exact', 'raw'], ['private-key#0', 'exact', 'raw']]);
  });

  it('a secret pasted into another file matches, even re-wrapped and indented', () => {
    expect(refs(index, scan(`notes\n\nuse this token: ${token} for CI\n`))).toEqual(['github-token#0']);
    const body = pem.split('\n').filter((l) => l && !l.startsWith('-----')).join('');
    const rewrapped = `key: |\n  -----BEGIN PRIVATE KEY-----\n${wrap(body, 76).trim().split('\n').map((l) => `  ${l}`).join('\n')}\n  -----END PRIVATE KEY-----\n`;
    expect(refs(index, scan(rewrapped))).toEqual(['private-key#0']);
  });

  for (const shift of [0, 1, 2]) {
    it(`base64 of a whole file holding the key and token matches at alignment ${shift}, wrapped or not, decoded or not`, () => {
      const file = Buffer.from(`${'#'.repeat(shift)}${original}`);
      const b64 = file.toString('base64');
      for (const encoded of [b64, wrap(b64, 76), wrap(b64, 64)]) {
        // without decoding: the base64-aligned shingles alone
        const viaShingles = index.match(scan(encoded, false).probe);
        expect(viaShingles.map((m) => m.ref).sort()).toEqual(['github-token#0', 'private-key#0']);
        expect(viaShingles.every((m) => m.via === 'shingles' && m.form.startsWith('base64+'))).toBe(true);
        // with decoding: the secrets themselves are found again
        expect(index.match(scan(encoded).probe).filter((m) => m.via === 'exact').map((m) => m.ref).sort()).toEqual(['github-token#0', 'private-key#0']);
      }
    });
  }

  it('hex of a file holding the key matches (xxd -p layout)', () => {
    const hex = wrap(Buffer.from(`x${original}`).toString('hex'), 60);
    expect(refs(index, scan(hex, false)).sort()).toEqual(['github-token#0', 'private-key#0']);
  });

  it('the encoded token as a value matches its encoded form', () => {
    const b64 = Buffer.from(token).toString('base64');
    expect(refs(index, scan(`DEPLOY_TOKEN="${b64}"\n`, false))).toEqual(['github-token#0']);
    expect(refs(index, scan(`${Buffer.from(token).toString('hex')}\n`, false))).toEqual(['github-token#0']);
  });

  it('an OpenSSH key in base64 matches; another key of the same type does not', () => {
    const idx = indexOf(ossh);
    expect(refs(idx, scan(Buffer.from(`ab${ossh}`).toString('base64'), false))).toEqual(['private-key#0']);
    for (let i = 0; i < 3; i++) {
      const other = opensshKey('ed25519');
      expect(refs(idx, scan(other)), 'raw').toEqual([]);
      expect(refs(idx, scan(Buffer.from(`ab${other}`).toString('base64'), false)), 'base64').toEqual([]);
    }
  });

  it('different keys and tokens of the same kinds do not match', () => {
    const other = `# prod\n${rsaPem()}\n${ecPem()}\nGITHUB_TOKEN=${ghToken()}\n`;
    expect(index.match(scan(other).probe)).toEqual([]);
    expect(index.match(scan(Buffer.from(other).toString('base64')).probe)).toEqual([]);
    expect(index.match(scan(Buffer.from(other).toString('hex'), false).probe)).toEqual([]);
    const ec = ecPem();
    const ecIndex = indexOf(ec);
    expect(ecIndex.match(scan(ecPem()).probe)).toEqual([]);
  });

  it('is keyed: the same content under another store key matches nothing', () => {
    const otherKey = scanContent(Buffer.from(original), randomBytes(32));
    expect(index.match(otherKey.probe)).toEqual([]);
    const fp = fingerprintSecret(KEY, token);
    expect(fingerprintSecret(randomBytes(32), token).id).not.toBe(fp.id);
    expect(fingerprintSecret(KEY, token).id).toBe(fp.id);
  });

  it('stores no secret: fingerprints are hashes only', () => {
    const json = JSON.stringify(scan(original).findings);
    for (const piece of [token.slice(4, 20), pem.split('\n')[5], Buffer.from(token).toString('base64').slice(0, 16)]) expect(json).not.toContain(piece);
    expect(json).toMatch(/"id":"[0-9a-f]{32}"/);
  });
});

describe('winnowing', () => {
  it('any shared run of at least k+w-1 characters shares a selected gram', () => {
    for (let trial = 0; trial < 50; trial++) {
      const shared = randomBytes(40).toString('base64').slice(0, SHINGLE_GUARANTEE + (trial % 10));
      const a = randomBytes(30).toString('hex') + shared + randomBytes(10).toString('hex');
      const b = randomBytes(7).toString('base64').replace(/=/g, '') + shared;
      const grams = (s: string) => new Set(winnow(s).map((i) => s.slice(i, i + 16)));
      const ga = grams(a);
      expect([...grams(b)].some((g) => ga.has(g)), `trial ${trial}`).toBe(true);
    }
  });

  it('selects one gram per window on repetitive text, not every gram', () => {
    expect(winnow('a'.repeat(1000)).length).toBeLessThan(1000 / 8);
  });

  it('runs join whole lines across breaks and indentation, not spaces, other text or assignments', () => {
    const A = 'A'.repeat(20);
    const B = 'B'.repeat(20);
    expect(alphabetRuns(`${A}\n   ${B}`)).toEqual([`${A}${B}`]);
    expect(alphabetRuns(`  ${A}\r\n  ${B};`)).toEqual([`${A}${B}`]);
    expect(alphabetRuns(`"-----BEGIN X-----\\n${A}\\n${B}\\n-----END X-----"`)).toEqual([`${A}${B}-----END`]); // JSON "\\n" escapes
    expect(alphabetRuns(`${A} ${B}`)).toEqual([]);
    expect(alphabetRuns(`x: ${A}\n${B}`)).toEqual([]); // the first line has other text on it
    expect(alphabetRuns(`KEY=${A}${B}\nNEXT=${A}`)).toEqual([`${A}${B}`]);
    expect(alphabetRuns(`${A}${B}==\n`)).toEqual([`${A}${B}==`]); // base64 padding stays
    // binary around a wrapped run: its lines still join, after a real break or a "\\n" escape
    expect(alphabetRuns(`\x00\x01\xff\u0100 ;\n${A}\n${B}\n\x02\x03`)).toEqual([`${A}${B}`]);
    expect(alphabetRuns(`\x00\xfe\x7f\\n${A}\\n${B}\\n\x05`)).toEqual([`${A}${B}`]);
    expect(alphabetRuns(`\x00\xfe ${A}${A}\n${B}${B}`)).toEqual([`${A}${A}`, `${B}${B}`]); // the first line has binary on it
  });

  it('shingle hashes are SHA-256 of a key derived by HMAC, then the gram', () => {
    const key = randomBytes(32);
    const shingleKey = createHmac('sha256', key).update('agent-sensor/dlp/shingles/v1').digest();
    const gram = 'QUJDREVGR0hJSktM';
    expect(shingleHash(key, gram)).toBe(createHash('sha256').update(Buffer.concat([shingleKey, Buffer.from(gram, 'latin1')])).digest('hex').slice(0, 16));
    expect(shingleHash(randomBytes(32), gram)).not.toBe(shingleHash(key, gram));
  });

  it('keyedHash is HMAC-SHA-256 (truncated), for any key and message length', () => {
    for (const key of [randomBytes(16), randomBytes(32), randomBytes(64), randomBytes(100)]) {
      for (const msg of ['', 'abcdefghijklmnop', 'abcdefghijklmnoq', 'x'.repeat(129), Buffer.from([0, 255, 7])]) {
        expect(keyedHash(key, msg, 32)).toBe(createHmac('sha256', key).update(typeof msg === 'string' ? Buffer.from(msg, 'latin1') : msg).digest('hex'));
      }
    }
  });
});
