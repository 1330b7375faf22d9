// CIDR blocks and addresses for connect grants, IPv4 and IPv6 alike.
import { isIP } from 'node:net';

export interface Cidr {
  bytes: Buffer;
  prefix: number;
}

function v6Bytes(text: string): Buffer | null {
  let t = text.toLowerCase();
  const v4tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(t);
  if (v4tail) {
    const b = v4tail[1]!.split('.').map(Number);
    t = t.slice(0, -v4tail[1]!.length) + `${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const halves = t.split('::');
  if (halves.length > 2) return null;
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const fill = halves.length === 2 ? 8 - head.length - tail.length : 0;
  const groups = [...head, ...Array(fill).fill('0'), ...tail];
  if (groups.length !== 8) return null;
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16) || 0, i * 2));
  return out;
}

/** 16 bytes for any address (IPv4 as ::ffff:a.b.c.d), or null. */
export function addressBytes(addr: string): Buffer | null {
  const kind = isIP(addr);
  if (kind === 4) return Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...addr.split('.').map(Number)]);
  if (kind === 6) return v6Bytes(addr);
  return null;
}

export function parseCidr(text: string): Cidr | null {
  const [addr, bits] = text.split('/');
  const bytes = addressBytes(addr!);
  if (!bytes) return null;
  const full = isIP(addr!) === 4 ? 32 : 128;
  const n = bits === undefined ? full : Number(bits);
  if (!Number.isInteger(n) || n < 0 || n > full) return null;
  return { bytes, prefix: full === 32 ? n + 96 : n };
}

export function cidrContains(c: Cidr, addr: string): boolean {
  const b = addressBytes(addr);
  if (!b) return false;
  let bits = c.prefix;
  for (let i = 0; i < 16 && bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((b[i]! & mask) !== (c.bytes[i]! & mask)) return false;
  }
  return true;
}
