// One `connect` grant: a CIDR or address, or a host name (glob, matched
// against the DNS attribution of the connect), with an optional port.
//   10.0.0.0/8   127.0.0.1:8080   [::1]:443   fd00::/8   api.example.com:443   *.github.com
import { isIP } from 'node:net';
import { cidrContains, parseCidr, type Cidr } from './cidr.js';
import { globToRegExp } from './glob.js';

export type ConnectGrant =
  | { kind: 'cidr'; cidr: Cidr; port: number | null; text: string }
  | { kind: 'host'; host: RegExp; port: number | null; text: string };

const HOST = /^(\*\.)?[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?$/;

function port(text: string | undefined): number | null | undefined {
  if (text === undefined || text === '*') return null;
  const n = Number(text);
  return Number.isInteger(n) && n > 0 && n < 65536 ? n : undefined;
}

/** The grant, or a message saying what is wrong with it. */
export function parseConnectGrant(text: string): ConnectGrant | string {
  let target = text;
  let portText: string | undefined;
  const bracket = /^\[([^\]]+)\](?::(.+))?$/.exec(text);
  if (bracket) {
    target = bracket[1]!;
    portText = bracket[2];
  } else if ((text.match(/:/g) ?? []).length === 1) {
    [target, portText] = text.split(':') as [string, string];
  }
  const p = port(portText);
  if (p === undefined) return `"${text}": the port must be 1-65535 or *`;
  const addr = target.split('/')[0]!;
  if (isIP(addr)) {
    const cidr = parseCidr(target);
    return cidr ? { kind: 'cidr', cidr, port: p, text } : `"${text}": not a valid CIDR`;
  }
  if (target.includes('/') || !HOST.test(target)) return `"${text}": not a CIDR, an address or a host name`;
  return { kind: 'host', host: globToRegExp(target.toLowerCase().replace(/\.$/, '')), port: p, text };
}

export function connectGranted(g: ConnectGrant, addr: string, p: number, host: string | undefined): boolean {
  if (g.port !== null && g.port !== p) return false;
  if (g.kind === 'cidr') return cidrContains(g.cidr, addr);
  return host !== undefined && g.host.test(host.toLowerCase().replace(/\.$/, ''));
}
