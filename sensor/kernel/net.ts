// Socket address text and names for the numbers in connect/dns records.
import type { ConnectEvent } from '../../proto/events/types.js';
import { ipv4Text, ipv6Text } from '../../proto/net/ip-text.js';

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
