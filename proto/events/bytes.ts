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

/** A printable rendering for tables and logs (never for storage). */
export function displayString(value: ByteString): string {
  const s = typeof value === 'string' ? value : toBytes(value).toString('latin1');
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x1f\x7f-\x9f\\]/g, (c) => (c === '\\' ? '\\\\' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}
