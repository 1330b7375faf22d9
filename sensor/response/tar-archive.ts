// A minimal ustar writer and reader for evidence bundles: regular files only,
// names we choose (ASCII, at most 100 bytes), no links, no extensions. Enough
// for `sensor collect` without a dependency; any tar(1) reads the result.
const BLOCK = 512;

export interface TarEntry {
  name: string;
  data: Buffer;
  /** epoch seconds */
  mtime?: number;
}

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

function header(e: TarEntry): Buffer {
  const name = Buffer.from(e.name, 'utf8');
  if (name.length > 100 || !/^[\x21-\x7e]+$/.test(e.name)) throw new Error(`tar entry name not usable: ${JSON.stringify(e.name)}`);
  const h = Buffer.alloc(BLOCK);
  name.copy(h, 0);
  h.write(octal(0o644, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii');
  h.write(octal(0, 8), 116, 'ascii');
  h.write(octal(e.data.length, 12), 124, 'ascii');
  h.write(octal(Math.floor(e.mtime ?? Date.now() / 1000), 12), 136, 'ascii');
  h.write('        ', 148, 'ascii'); // checksum counts as spaces while summed
  h.write('0', 156, 'ascii');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return h;
}

export function writeTar(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    parts.push(header(e), e.data);
    const pad = (BLOCK - (e.data.length % BLOCK)) % BLOCK;
    if (pad) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(parts);
}

export class TarFormatError extends Error {}

/** Reads regular-file entries; anything malformed is a TarFormatError. */
export function readTar(buf: Buffer): TarEntry[] {
  const out: TarEntry[] = [];
  let off = 0;
  while (off + BLOCK <= buf.length) {
    const h = buf.subarray(off, off + BLOCK);
    if (h.every((b) => b === 0)) return out;
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
    const stored = parseInt(h.subarray(148, 156).toString('ascii').replace(/[\0 ]/g, ''), 8);
    if (stored !== sum) throw new TarFormatError(`bad tar header checksum at offset ${off}`);
    const name = h.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(h.subarray(124, 136).toString('ascii').replace(/[\0 ]/g, ''), 8);
    const type = String.fromCharCode(h[156]!);
    if (!Number.isSafeInteger(size) || size < 0 || off + BLOCK + size > buf.length) throw new TarFormatError(`bad size for ${name}`);
    if (type !== '0' && type !== '\0') throw new TarFormatError(`entry ${name} is not a regular file (type ${type})`);
    out.push({ name, data: Buffer.from(buf.subarray(off + BLOCK, off + BLOCK + size)) });
    off += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
  }
  throw new TarFormatError('tar archive ends without its end-of-archive blocks');
}
