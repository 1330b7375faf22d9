// Private keys: PEM blocks (PKCS#1, PKCS#8, SEC1, encrypted PKCS#8, DSA,
// OpenSSH, PuTTY-less PGP armour) whose body is real base64 of the right
// structure: DER starts with a SEQUENCE, OpenSSH with its magic, PGP armour
// decodes to an OpenPGP secret-key packet. A PEM header around prose (docs
// quoting "-----BEGIN RSA PRIVATE KEY-----") is not a key.
import type { RawHit } from './types.js';

// The label is bounded and has no nested quantifier; the END marker is found
// with indexOf from the BEGIN, bounded by MAX_BLOCK.
const BEGIN = /-----BEGIN ((?:[A-Z0-9]{1,12} ){0,3})PRIVATE KEY( BLOCK)?-----/g;
const MAX_BLOCK = 64 * 1024;
const OPENSSH_MAGIC = Buffer.from('openssh-key-v1\0');

function bodyOf(block: string): { headers: boolean; b64: string } {
  const lines = block.split(/\r?\n|\\n/); // real line breaks, or "\n" escapes in a JSON string
  let headers = false;
  const body: string[] = [];
  for (const raw of lines) {
    const line = raw.trim();
    if (line.length === 0) continue;
    if (line.includes(':')) { headers = true; continue; } // Proc-Type:, DEK-Info:, Version: (armour)
    if (line.startsWith('=') && line.length <= 6) continue; // PGP armour checksum
    body.push(line);
  }
  return { headers, b64: body.join('') };
}

function validBody(label: string, pgp: boolean, b64: string): boolean {
  if (b64.length < 64 || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return false;
  const der = Buffer.from(b64, 'base64');
  if (label === 'OPENSSH ') return der.subarray(0, OPENSSH_MAGIC.length).equals(OPENSSH_MAGIC);
  if (pgp) return (der[0] & 0x80) !== 0 && [5, 7].includes((der[0] & 0x40) ? der[0] & 0x3f : (der[0] >> 2) & 0x0f);
  return der[0] === 0x30; // ASN.1 SEQUENCE
}

export function scanPrivateKeys(text: string): RawHit[] {
  const hits: RawHit[] = [];
  // The next END of each kind, found once and reused while the search is before it:
  // many BEGINs without an END must not rescan the rest of the text each time.
  const nextEnd = new Map<string, number>();
  const findEnd = (marker: string, from: number): number => {
    const known = nextEnd.get(marker);
    if (known !== undefined && (known === -1 || known >= from)) return known;
    const at = text.indexOf(marker, from);
    nextEnd.set(marker, at);
    return at;
  };
  // All BEGINs first: a block is only read up to the next BEGIN, so the blocks
  // read are disjoint and the scan stays linear however many BEGINs precede an END.
  const begins: RegExpExecArray[] = [];
  BEGIN.lastIndex = 0;
  for (let m = BEGIN.exec(text); m; m = BEGIN.exec(text)) begins.push(m);
  let after = 0;
  begins.forEach((m, i) => {
    if (m.index < after) return; // inside a key already taken
    const label = m[1];
    const pgp = m[2] !== undefined;
    if (pgp && label !== 'PGP ') return;
    const endMarker = pgp ? '-----END PGP PRIVATE KEY BLOCK-----' : `-----END ${label}PRIVATE KEY-----`;
    const bodyStart = m.index + m[0].length;
    const end = findEnd(endMarker, bodyStart);
    const nextBegin = i + 1 < begins.length ? begins[i + 1].index : Infinity;
    if (end < 0 || end - bodyStart > MAX_BLOCK || nextBegin < end) return;
    const { b64 } = bodyOf(text.slice(bodyStart, end));
    if (!validBody(label, pgp, b64)) return;
    const stop = end + endMarker.length;
    // The canonical secret is the body without line breaks, so a re-wrapped
    // copy has the same fingerprint; the raw body is kept for the shingles
    // of its encodings (base64 of a file carries the body as it was laid out).
    hits.push({ class: 'private-key', start: m.index, end: stop, secret: b64, block: text.slice(bodyStart, end) });
    after = stop;
  });
  return hits;
}
