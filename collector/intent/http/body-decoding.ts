// Content-Encoding of a captured body, undone within a bound. A body cut in
// capture decodes as far as it goes (zlib's "unexpected end" keeps the prefix
// it produced); a decompression bomb stops at maxOutputBytes.
import { brotliDecompressSync, constants, gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';

export interface DecodedBody {
  bytes: Buffer;
  /** the encoding was undone (or there was none) */
  ok: boolean;
  /** the output stopped at the bound, or the input was cut */
  partial: boolean;
  encoding: string;
}

export const MAX_DECODED_BODY_BYTES = 8 * 1024 * 1024;

export function decodeBody(body: Buffer, contentEncoding: string | undefined, maxOutputBytes = MAX_DECODED_BODY_BYTES): DecodedBody {
  const encoding = (contentEncoding ?? 'identity').trim().toLowerCase();
  if (encoding === '' || encoding === 'identity') return { bytes: body, ok: true, partial: false, encoding: 'identity' };
  const opts = { maxOutputLength: maxOutputBytes, finishFlush: constants.Z_SYNC_FLUSH };
  try {
    switch (encoding) {
      case 'gzip': case 'x-gzip': return { bytes: gunzipSync(body, opts), ok: true, partial: false, encoding };
      case 'deflate':
        // Servers send both zlib-wrapped and raw deflate under this name.
        try { return { bytes: inflateSync(body, opts), ok: true, partial: false, encoding }; }
        catch { return { bytes: inflateRawSync(body, opts), ok: true, partial: false, encoding }; }
      case 'br': return { bytes: brotliDecompressSync(body, { maxOutputLength: maxOutputBytes }), ok: true, partial: false, encoding };
      default: return { bytes: Buffer.alloc(0), ok: false, partial: false, encoding };
    }
  } catch (err) {
    const code = (err as { code?: string }).code;
    const partial = code === 'ERR_BUFFER_TOO_LARGE' || code === 'Z_BUF_ERROR';
    return { bytes: Buffer.alloc(0), ok: false, partial, encoding };
  }
}
