// Egress grants of an agent instance, as a responder or the config writes
// them, turned into the kernel's LPM entries: "10.0.0.0/8", "10.1.2.3:443",
// "[::1]:8000-8100", "api.example.com:443", "*:53". Host names are resolved
// when the grants are applied (the kernel sees addresses only): an address
// the name moves to later is not granted until the grants are applied again.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { KernelGrant } from './egress-control.js';

export interface GrantSpec {
  /** as written */
  text: string;
  host: string;
  bits: number | null;
  ports: [number, number];
}

export class GrantError extends Error {}

export function parseGrant(text: string): GrantSpec {
  const t = text.trim();
  let host: string;
  let portText: string | undefined;
  const bracket = /^\[([^\]]+)\](?::(.+))?$/.exec(t);
  if (bracket) {
    host = bracket[1]!;
    portText = bracket[2];
  } else if ((t.match(/:/g) ?? []).length > 1) {
    host = t; // a bare IPv6 address or prefix: no port
  } else {
    const i = t.lastIndexOf(':');
    host = i < 0 ? t : t.slice(0, i);
    portText = i < 0 ? undefined : t.slice(i + 1);
  }
  let bits: number | null = null;
  const slash = host.indexOf('/');
  if (slash >= 0) {
    bits = Number(host.slice(slash + 1));
    host = host.slice(0, slash);
    const max = isIP(host) === 4 ? 32 : isIP(host) === 6 ? 128 : -1;
    if (max < 0 || !Number.isInteger(bits) || bits < 0 || bits > max) throw new GrantError(`grant ${JSON.stringify(text)}: bad prefix`);
  }
  let ports: [number, number] = [1, 65535];
  if (portText !== undefined) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(portText);
    const lo = m ? Number(m[1]) : NaN;
    const hi = m?.[2] !== undefined ? Number(m[2]) : lo;
    if (!m || lo < 1 || hi > 65535 || lo > hi) throw new GrantError(`grant ${JSON.stringify(text)}: bad port (1-65535 or LO-HI)`);
    ports = [lo, hi];
  }
  if (host === '' || (host !== '*' && isIP(host) === 0 && !/^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$/.test(host))) {
    throw new GrantError(`grant ${JSON.stringify(text)}: not an address, prefix or host name`);
  }
  return { text, host, bits, ports };
}

function addr16(ip: string): Buffer {
  const b = Buffer.alloc(16);
  if (isIP(ip) === 4) {
    b[10] = 0xff;
    b[11] = 0xff;
    ip.split('.').forEach((o, i) => (b[12 + i] = Number(o)));
    return b;
  }
  // Expand :: and an IPv4 tail, then write the 8 groups.
  let text = ip;
  const v4tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4tail) {
    const o = v4tail[1]!.split('.').map(Number);
    text = text.slice(0, -v4tail[1]!.length) + `${((o[0]! << 8) | o[1]!).toString(16)}:${((o[2]! << 8) | o[3]!).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
  return b;
}

/** Kernel entries for the grants; host names resolved now, every address they have. */
export async function kernelGrants(specs: GrantSpec[]): Promise<{ grants: KernelGrant[]; resolved: Record<string, string[]> }> {
  const byPrefix = new Map<string, KernelGrant>();
  const resolved: Record<string, string[]> = {};
  const add = (ip: string, bits: number | null, ports: [number, number]) => {
    const v4 = isIP(ip) === 4;
    const b = bits === null ? 128 : v4 ? 96 + bits : bits;
    const key = `${addr16(ip).toString('hex')}/${b}`;
    let g = byPrefix.get(key);
    if (!g) {
      g = { addr16: addr16(ip), bits: b, ports: [] };
      byPrefix.set(key, g);
    }
    g.ports.push(ports);
  };
  for (const s of specs) {
    if (s.host === '*') {
      add('0.0.0.0', 0, s.ports);
      add('::', 0, s.ports);
    } else if (isIP(s.host)) {
      add(s.host, s.bits, s.ports);
    } else {
      let addrs: string[];
      try {
        addrs = (await lookup(s.host, { all: true })).map((a) => a.address);
      } catch (err) {
        throw new GrantError(`grant ${JSON.stringify(s.text)}: cannot resolve ${s.host}: ${(err as Error).message}`);
      }
      resolved[s.host] = addrs;
      for (const a of addrs) add(a, null, s.ports);
    }
  }
  const grants = [...byPrefix.values()];
  // The kernel's trie answers with the longest matching prefix alone: a
  // longer prefix must carry the ports of every shorter one covering it.
  for (const g of grants) {
    for (const cover of grants) {
      if (cover !== g && cover.bits < g.bits && covers(cover, g)) g.ports.push(...cover.ports);
    }
  }
  for (const g of grants) {
    g.ports = mergeRanges(g.ports);
    if (g.ports.length > MAX_PORT_RANGES) throw new GrantError(`more than ${MAX_PORT_RANGES} separate port ranges granted for one prefix`);
  }
  return { grants, resolved };
}

/** bpf/egress/egress.h GRANT_PORT_RANGES */
export const MAX_PORT_RANGES = 8;

function covers(short: KernelGrant, long: KernelGrant): boolean {
  for (let bit = 0; bit < short.bits; bit++) {
    const mask = 0x80 >> (bit % 8);
    if ((short.addr16[bit >> 3]! & mask) !== (long.addr16[bit >> 3]! & mask)) return false;
  }
  return true;
}

function mergeRanges(ranges: [number, number][]): [number, number][] {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const [lo, hi] of sorted) {
    const last = out[out.length - 1];
    if (last && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
    else out.push([lo, hi]);
  }
  return out;
}
