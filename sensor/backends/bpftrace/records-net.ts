// Connect and DNS records of the bpftrace script (C + U, N + Q lines; see
// ./script.ts and ./script-dns.ts), built on the common header fields that
// ./records.ts has decoded.
import type { ConnectEvent, DnsEvent, EventBase } from '../../../proto/events/types.js';
import { byteString } from '../../../proto/events/bytes.js';
import { familyName, inetAddrText, protoName, unixPathBytes, AF_UNIX } from '../../kernel/net.js';
import { parseDnsQuery } from '../../../proto/net/dns-message.js';
import type { KernelEvent } from '../backend.js';
import { unhexRx } from './lines.js';
import { DNS_CHUNK } from './script-dns.js';

/** fields before the record's own: tag + the common header */
const HEADER = 8;
const SOCK_STREAM = 1;

/** the common fields, as ./records.ts decodes them */
export type Base = EventBase & { agentId: number; pending: boolean };

export function dnsEvent(base: Base, f: Buffer[], parts: Map<string, Buffer>, complete: boolean, stats: { dnsUnparsed: number }): KernelEvent | null {
  const ev = base as Base & DnsEvent;
  const famPortKind = BigInt(f[HEADER + 3].toString());
  const family = Number(famPortKind >> 48n);
  const portNet = Number((famPortKind >> 32n) & 0xffffn);
  const sockType = Number((famPortKind >> 16n) & 0xffffn);
  const hex = parts.get('Q');
  const payload = hex ? unhexRx(hex, 0, hex.length) : null;
  if (!complete || !payload) return null; // no question, nothing to report
  const q = parseDnsQuery(payload, sockType === SOCK_STREAM ? 'tcp' : 'udp');
  if (!q) {
    stats.dnsUnparsed++;
    return null;
  }
  ev.qname = q.qname;
  ev.qtype = q.qtype;
  ev.addr = inetAddrText(family, addrBytes(f[HEADER + 4], f[HEADER + 5]), 0);
  ev.port = ((portNet & 0xff) << 8) | (portNet >> 8);
  if (Number(f[HEADER + 6].toString()) > DNS_CHUNK) ev.truncated = true;
  return ev;
}

export function connectEvent(base: Base, f: Buffer[], parts: Map<string, Buffer>): KernelEvent {
  const ev = base as Base & ConnectEvent;
  ev.result = Number(f[HEADER + 1].toString());
  const fdUl = BigInt(f[HEADER + 2].toString());
  const famPortKind = BigInt(f[HEADER + 3].toString());
  const family = Number(famPortKind >> 48n);
  const portNet = Number((famPortKind >> 32n) & 0xffffn);
  const sockType = Number((famPortKind >> 16n) & 0xffffn);
  const protocol = Number(famPortKind & 0xffffn);
  ev.family = familyName(family);
  ev.proto = protoName(family, protocol, sockType);
  ev.port = ((portNet & 0xff) << 8) | (portNet >> 8);
  if (family === AF_UNIX) {
    const hex = parts.get('U');
    const bytes = hex ? unhexRx(hex, 0, hex.length) : null;
    const len = Number(fdUl & 0xffffffffn);
    ev.addr = bytes ? byteString(unixPathBytes(bytes, 0, Math.min(len, bytes.length))) : '';
    if (!bytes) ev.truncated = true;
  } else {
    ev.addr = inetAddrText(family, addrBytes(f[HEADER + 4], f[HEADER + 5]), 0);
  }
  return ev;
}

/** The address words as the CPU read them (packed in pairs), little-endian back to memory order. */
function addrBytes(a01Field: Buffer, a23Field: Buffer): Buffer {
  const addr = Buffer.alloc(16);
  const a01 = BigInt(a01Field.toString());
  const a23 = BigInt(a23Field.toString());
  addr.writeUInt32LE(Number(a01 >> 32n), 0);
  addr.writeUInt32LE(Number(a01 & 0xffffffffn), 4);
  addr.writeUInt32LE(Number(a23 >> 32n), 8);
  addr.writeUInt32LE(Number(a23 & 0xffffffffn), 12);
  return addr;
}
