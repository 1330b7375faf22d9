// Socket address text and names for the numbers in connect/dns records.
import type { ConnectEvent } from '../events/types.js';

export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_INET6 = 10;

const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const SOCK_STREAM = 1;
const SOCK_DGRAM = 2;
const SOCK_RAW = 3;

export function familyName(family: number): ConnectEvent['family'] {
  switch (family) {
    case AF_INET: return 'inet';
    case AF_INET6: return 'inet6';
    case AF_UNIX: return 'unix';
    default: return 'other';
  }
}

/** Protocol from the socket's protocol number, or its type when created with protocol 0. */
export function protoName(family: number, protocol: number, sockType: number): ConnectEvent['proto'] {
  if (family === AF_UNIX) return 'unix';
  if (sockType === SOCK_RAW) return 'raw';
  if (protocol === IPPROTO_TCP) return 'tcp';
  if (protocol === IPPROTO_UDP) return 'udp';
  if (protocol === 0 && sockType === SOCK_STREAM) return 'tcp';
  if (protocol === 0 && sockType === SOCK_DGRAM) return 'udp';
  return 'other';
}

/** Dotted quad from 4 network-order bytes at `off`. */
export function ipv4Text(b: Uint8Array, off: number): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

/** RFC 5952 text of 16 network-order bytes at `off`: lower case, longest zero run compressed. */
export function ipv6Text(b: Uint8Array, off: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((b[off + 2 * i] << 8) | b[off + 2 * i + 1]);
  // IPv4-mapped ::ffff:a.b.c.d keeps the dotted tail, as inet_ntop writes it
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${ipv4Text(b, off + 12)}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  if (bestLen < 2) return groups.map((g) => g.toString(16)).join(':');
  const head = groups.slice(0, bestStart).map((g) => g.toString(16)).join(':');
  const tail = groups.slice(bestStart + bestLen).map((g) => g.toString(16)).join(':');
  return `${head}::${tail}`;
}

export function inetAddrText(family: number, b: Uint8Array, off: number): string {
  if (family === AF_INET) return ipv4Text(b, off);
  if (family === AF_INET6) return ipv6Text(b, off);
  return '';
}

/**
 * sun_path bytes as used (`len`): a leading NUL marks the abstract namespace,
 * shown as '@name' (name bytes kept verbatim, NULs included); a filesystem
 * path ends at its first NUL.
 */
export function unixPathBytes(b: Uint8Array, off: number, len: number): Uint8Array {
  if (len <= 0) return new Uint8Array(0);
  if (b[off] === 0) {
    const out = new Uint8Array(len);
    out.set(b.subarray(off + 1, off + len), 1);
    out[0] = 0x40; // '@'
    return out;
  }
  let end = off;
  while (end < off + len && b[end] !== 0) end++;
  return b.subarray(off, end);
}
