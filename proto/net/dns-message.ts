// Parses the question of a DNS query as the kernel saw it leave a process
// (a send to port 53). Input is hostile: any process can send any bytes to
// port 53, so the exported parser never throws and bounds every walk.
//
// Only the first question is read: real resolvers send QDCOUNT = 1, and the
// sensor wants "which name was looked up", not a full message decoder.
// Responses (below) are read as far as their answer section.
import { ipv4Text, ipv6Text } from './ip-text.js';

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

// ---- Responses -------------------------------------------------------------
// The kernel also hands us what a tracked process received from port 53.
// Answers are what let a later connect be attributed to a name; they are as
// hostile as queries (anyone can answer), so the same rules hold: never
// throw, bound every walk. A payload cut by the kernel (DNS_PAYLOAD_MAX)
// yields the answers that fit.

export interface DnsAnswer {
  /** owner name of the record */
  name: string;
  /** A, AAAA, CNAME, ... or TYPEnnn */
  type: string;
  /** seconds; RFC 2181 8: a value with the top bit set counts as 0 */
  ttl: number;
  /** A/AAAA (class IN): the address as connect events write it */
  addr?: string;
  /** CNAME: the canonical name */
  cname?: string;
}

export interface DnsResponse {
  id: number;
  /** the first question's name and type, as asked */
  qname: string;
  qtype: string;
  /** NOERROR, NXDOMAIN, ... or RCODEn */
  rcode: string;
  answers: DnsAnswer[];
  /** the message ended inside the answer section (cut, or lying counts) */
  truncated: boolean;
}

const RCODE_NAMES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];
const TYPE_A = 1;
const TYPE_CNAME = 5;
const TYPE_AAAA = 28;
const CLASS_IN = 1;
/** more questions than this is not a resolver's message */
const MAX_QUESTIONS = 8;
/** answers kept; each costs at least 11 bytes, so 512 bytes hold fewer anyway */
const MAX_ANSWERS = 64;
/** CNAME hops followed from the question to the addresses */
const MAX_CNAME_HOPS = 16;

export function rcodeName(rcode: number): string {
  return RCODE_NAMES[rcode] ?? `RCODE${rcode}`;
}

/** Inverse of rcodeName; null for text it never produces. */
export function rcodeNumber(name: string): number | null {
  const i = RCODE_NAMES.indexOf(name);
  if (i >= 0) return i;
  const m = /^RCODE(\d{1,2})$/.exec(name);
  return m && Number(m[1]) < 16 && rcodeName(Number(m[1])) === name ? Number(m[1]) : null;
}

/** The answers of a DNS response (UDP framing), or null when it is not one we can read. Never throws. */
export function parseDnsResponse(payload: Uint8Array): DnsResponse | null {
  try {
    return parseResponseOrThrow(payload);
  } catch {
    return null;
  }
}

function parseResponseOrThrow(msg: Uint8Array): DnsResponse | null {
  if (msg.length < HEADER_LEN) return null;
  const flags = (msg[2] << 8) | msg[3];
  if (!(flags & 0x8000)) return null; // QR clear: a query
  const qdcount = (msg[4] << 8) | msg[5];
  const ancount = (msg[6] << 8) | msg[7];
  if (qdcount < 1 || qdcount > MAX_QUESTIONS) return null;
  let pos = HEADER_LEN;
  let qname = '';
  let qtype = '';
  for (let i = 0; i < qdcount; i++) {
    const q = readDnsName(msg, pos);
    if (q.end + 4 > msg.length) return null;
    if (i === 0) {
      qname = q.name;
      qtype = qtypeName((msg[q.end] << 8) | msg[q.end + 1]);
    }
    pos = q.end + 4;
  }
  const answers: DnsAnswer[] = [];
  let truncated = false;
  for (let i = 0; i < ancount && answers.length < MAX_ANSWERS; i++) {
    const rr = readRecord(msg, pos);
    if (!rr) {
      truncated = true;
      break;
    }
    if (rr.answer) answers.push(rr.answer);
    pos = rr.end;
  }
  return { id: (msg[0] << 8) | msg[1], qname, qtype, rcode: rcodeName(flags & 0xf), answers, truncated };
}

/** One resource record at pos; null when the message ends inside it or its name is bad. */
function readRecord(msg: Uint8Array, pos: number): { answer: DnsAnswer | null; end: number } | null {
  let owner: { name: string; end: number };
  try {
    owner = readDnsName(msg, pos);
  } catch {
    return null;
  }
  const p = owner.end;
  if (p + 10 > msg.length) return null;
  const type = (msg[p] << 8) | msg[p + 1];
  const cls = (msg[p + 2] << 8) | msg[p + 3];
  const rawTtl = ((msg[p + 4] << 24) | (msg[p + 5] << 16) | (msg[p + 6] << 8) | msg[p + 7]) >>> 0;
  const rdlen = (msg[p + 8] << 8) | msg[p + 9];
  const rdata = p + 10;
  const end = rdata + rdlen;
  if (end > msg.length) return null;
  const answer: DnsAnswer = { name: owner.name, type: qtypeName(type), ttl: rawTtl > 0x7fffffff ? 0 : rawTtl };
  if (cls === CLASS_IN && type === TYPE_A && rdlen === 4) answer.addr = ipv4Text(msg, rdata);
  else if (cls === CLASS_IN && type === TYPE_AAAA && rdlen === 16) answer.addr = ipv6Text(msg, rdata);
  else if (type === TYPE_CNAME) {
    try {
      const target = readDnsName(msg, rdata);
      if (target.end > end) return null; // the name runs past its own record
      answer.cname = target.name;
    } catch {
      // a bad CNAME target spoils that record only
    }
  }
  return { answer, end };
}

/** An address the question's name resolved to, with the TTL that bounds the claim. */
export interface ResolvedAddress {
  addr: string;
  ttl: number;
}

/**
 * The addresses a response gives for the name that was asked: A/AAAA records
 * owned by qname or by a name reached from it through CNAMEs in the answer
 * section. Records about other names (a server may add any) are ignored.
 * Each TTL is the smallest along its chain.
 */
export function addressesForQuestion(resp: DnsResponse): ResolvedAddress[] {
  const chain = new Map<string, number>([[resp.qname.toLowerCase(), Infinity]]); // name -> TTL so far
  for (let hop = 0; hop < MAX_CNAME_HOPS; hop++) {
    let grew = false;
    for (const a of resp.answers) {
      const via = chain.get(a.name.toLowerCase());
      if (via === undefined || a.cname === undefined) continue;
      const target = a.cname.toLowerCase();
      if (chain.has(target)) continue;
      chain.set(target, Math.min(via, a.ttl));
      grew = true;
    }
    if (!grew) break;
  }
  const out: ResolvedAddress[] = [];
  for (const a of resp.answers) {
    const via = chain.get(a.name.toLowerCase());
    if (via === undefined || a.addr === undefined) continue;
    out.push({ addr: a.addr, ttl: Math.min(via, a.ttl) });
  }
  return out;
}
