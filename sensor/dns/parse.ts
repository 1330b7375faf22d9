// Parses the question of a DNS query as the kernel saw it leave a process
// (a send to port 53). Input is hostile: any process can send any bytes to
// port 53, so the exported parser never throws and bounds every walk.
//
// Only the first question is read: real resolvers send QDCOUNT = 1, and the
// sensor wants "which name was looked up", not a full message decoder.

export interface DnsQuestion {
  /** transaction id */
  id: number;
  /** dotted name without the trailing dot ("." for the root); odd bytes as \DDD, like dig */
  qname: string;
  /** A, AAAA, ... or TYPEnnn */
  qtype: string;
}

export type DnsParseErrorReason =
  | 'short-header' | 'not-a-query' | 'no-question' | 'truncated-name' | 'label-too-long'
  | 'name-too-long' | 'bad-pointer' | 'pointer-loop' | 'truncated-question' | 'bad-tcp-length';

export class DnsParseError extends Error {
  constructor(readonly reason: DnsParseErrorReason) {
    super(`DNS query not parsed: ${reason}`);
    this.name = 'DnsParseError';
  }
}

export type Transport = 'udp' | 'tcp';

const HEADER_LEN = 12;
/** RFC 1035 3.1: 255 octets on the wire, length bytes and the root's zero included */
const MAX_NAME_WIRE = 255;
/** Every pointer must go strictly backwards, so a name can follow at most this many. */
const MAX_POINTERS = 127;

const QTYPE_NAMES: Record<number, string> = {
  1: 'A', 2: 'NS', 5: 'CNAME', 6: 'SOA', 12: 'PTR', 15: 'MX', 16: 'TXT', 28: 'AAAA',
  33: 'SRV', 64: 'SVCB', 65: 'HTTPS', 255: 'ANY',
};

export function qtypeName(type: number): string {
  return QTYPE_NAMES[type] ?? `TYPE${type}`;
}

/**
 * The question of a DNS query, or null when the payload is not one we can
 * read; `onError` (optional) learns why. Never throws.
 */
export function parseDnsQuery(
  payload: Uint8Array,
  transport: Transport = 'udp',
  onError?: (reason: DnsParseErrorReason) => void,
): DnsQuestion | null {
  try {
    return parseDnsQueryOrThrow(payload, transport);
  } catch (err) {
    if (onError) onError(err instanceof DnsParseError ? err.reason : 'truncated-question');
    return null;
  }
}

/** Like parseDnsQuery but throws DnsParseError with the reason. */
export function parseDnsQueryOrThrow(payload: Uint8Array, transport: Transport = 'udp'): DnsQuestion {
  let msg = payload;
  if (transport === 'tcp') {
    // RFC 1035 4.2.2: a two-byte length prefix. The kernel may hand us only
    // the first part of a longer message, so a length larger than what we
    // hold is fine; one smaller than a header is not.
    if (msg.length < 2) throw new DnsParseError('bad-tcp-length');
    const declared = (msg[0] << 8) | msg[1];
    if (declared < HEADER_LEN) throw new DnsParseError('bad-tcp-length');
    msg = msg.subarray(2, 2 + declared);
  }
  if (msg.length < HEADER_LEN) throw new DnsParseError('short-header');
  const id = (msg[0] << 8) | msg[1];
  const flags = (msg[2] << 8) | msg[3];
  if (flags & 0x8000) throw new DnsParseError('not-a-query'); // QR bit: a response
  const qdcount = (msg[4] << 8) | msg[5];
  if (qdcount < 1) throw new DnsParseError('no-question');
  // In the first question a pointer could only point back into the header
  // or into the name itself, so a query that compresses it is rejected by
  // readDnsName's strictly-backwards rule; responses (a later issue) need it.
  const { name, end } = readDnsName(msg, HEADER_LEN);
  if (end + 4 > msg.length) throw new DnsParseError('truncated-question');
  const qtype = (msg[end] << 8) | msg[end + 1];
  return { id, qname: name, qtype: qtypeName(qtype) };
}

/**
 * Reads a possibly compressed name at `start`; `end` is where the record
 * continues. Each pointer must land strictly before the previous jump target
 * (the first: before `start`) and after the header, so every walk ends.
 */
export function readDnsName(msg: Uint8Array, start: number): { name: string; end: number } {
  const labels: string[] = [];
  let pos = start;
  let end = -1; // set at the first pointer: the name's bytes in place stop there
  let wire = 0;
  let pointers = 0;
  let lowestTarget = start; // pointers must go strictly backwards: no loops
  for (;;) {
    if (pos >= msg.length) throw new DnsParseError('truncated-name');
    const len = msg[pos];
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (pos + 1 >= msg.length) throw new DnsParseError('truncated-name');
      const target = ((len & 0x3f) << 8) | msg[pos + 1];
      if (end < 0) end = pos + 2;
      if (++pointers > MAX_POINTERS) throw new DnsParseError('pointer-loop');
      if (target >= lowestTarget) throw new DnsParseError(target >= msg.length ? 'bad-pointer' : 'pointer-loop');
      if (target < HEADER_LEN) throw new DnsParseError('bad-pointer');
      lowestTarget = target;
      pos = target;
      continue;
    }
    // 0x40 and 0x80 prefixes (lengths 64..191) were extended label types,
    // never deployed; for a length byte they mean a label over 63 octets.
    if (kind !== 0) throw new DnsParseError('label-too-long');
    wire += len + 1;
    if (wire > MAX_NAME_WIRE) throw new DnsParseError('name-too-long');
    if (len === 0) {
      if (end < 0) end = pos + 1;
      break;
    }
    if (pos + 1 + len > msg.length) throw new DnsParseError('truncated-name');
    labels.push(escapeLabel(msg.subarray(pos + 1, pos + 1 + len)));
    pos += 1 + len;
  }
  return { name: labels.length === 0 ? '.' : labels.join('.'), end };
}

/**
 * Presentation format as dig prints it (RFC 4343 2.1): printable ASCII as
 * is, except '.', '\\' and the characters special in zone files, which get a
 * backslash; everything else as \DDD (three decimal digits).
 */
export function escapeLabel(label: Uint8Array): string {
  let out = '';
  for (const b of label) {
    if (b === 0x2e || b === 0x5c || b === 0x22 || b === 0x28 || b === 0x29 || b === 0x3b || b === 0x40 || b === 0x24) {
      out += '\\' + String.fromCharCode(b);
    } else if (b > 0x20 && b < 0x7f) {
      out += String.fromCharCode(b);
    } else {
      out += '\\' + b.toString(10).padStart(3, '0');
    }
  }
  return out;
}
