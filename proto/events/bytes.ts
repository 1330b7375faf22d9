// Kernel strings are bytes. Valid UTF-8 travels as a plain string; anything
// else as { b64 } so that nothing is lost or silently replaced with U+FFFD.
import type { ByteString } from './types.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function byteString(bytes: Uint8Array): ByteString {
  try {
    return utf8.decode(bytes);
  } catch {
    return { b64: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64') };
  }
}

export function toBytes(value: ByteString): Buffer {
  return typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value.b64, 'base64');
}

/**
 * A printable rendering for tables and logs (never for storage), one-to-one
 * so two different names never print the same: a byte that is not part of
 * valid UTF-8 is `\xNN`, as are C0 controls and DEL (one byte each); C1
 * controls and the characters that reorder or break a line (bidi controls,
 * U+2028/9) are `\u{NNNN}`; a backslash is `\\`.
 */
export function displayString(value: ByteString): string {
  if (typeof value === 'string') return escapeText(value);
  const bytes = toBytes(value);
  let out = '';
  let i = 0;
  while (i < bytes.length) {
    const len = utf8SequenceLength(bytes, i);
    if (len === 0) {
      out += `\\x${bytes[i]!.toString(16).padStart(2, '0')}`;
      i += 1;
    } else {
      out += escapeText(bytes.toString('utf8', i, i + len));
      i += len;
    }
  }
  return out;
}

// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\x00-\x1f\x7f\\]|[\u0080-\u009f\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;

function escapeText(s: string): string {
  return s.replace(UNPRINTABLE, (c) => {
    if (c === '\\') return '\\\\';
    const n = c.charCodeAt(0);
    return n < 0x80 ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u{${n.toString(16).padStart(4, '0')}}`;
  });
}

/** Length of the well-formed UTF-8 sequence at i (RFC 3629: no overlongs, surrogates or > U+10FFFF), or 0. */
function utf8SequenceLength(b: Buffer, i: number): number {
  const c = b[i]!;
  if (c < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf): boolean => i + k < b.length && b[i + k]! >= lo && b[i + k]! <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    const lo = c === 0xe0 ? 0xa0 : 0x80;
    const hi = c === 0xed ? 0x9f : 0xbf;
    return cont(1, lo, hi) && cont(2) ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const lo = c === 0xf0 ? 0x90 : 0x80;
    const hi = c === 0xf4 ? 0x8f : 0xbf;
    return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}
