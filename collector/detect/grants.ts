// Declared grants of an agent, as policy: a kind that is declared is
// enforced (anything outside it is a policy_violation at once, learning or
// not); a kind not declared is left to the baseline.
//
// Implicitly granted when `read` is declared: what every dynamically linked
// program reads before its first line runs (the loader cache, shared
// libraries, locale and time zone data), what name resolution and TLS read
// (hosts, resolv.conf, nsswitch, passwd/group, CA certificates), the
// process's own /proc entries, and the harmless devices; when `write` is
// declared: /dev/null and the terminal. When `connect` is declared: DNS queries (port
// 53, the resolver is how host grants are matched at all).
import { connectGranted, parseConnectGrant, type ConnectGrant } from './connect-grant.js';
import { expandGlob, globToRegExp } from './glob.js';

export interface GrantsInput {
  read?: string[];
  write?: string[];
  connect?: string[];
  exec?: string[];
}

export const IMPLICIT_READ = [
  '/etc/ld.so.cache', '/etc/ld.so.preload', '/lib/**', '/lib64/**', '/usr/lib/**', '/usr/lib64/**',
  '/usr/share/locale/**', '/etc/locale.alias', '/etc/localtime', '/usr/share/zoneinfo/**',
  '/etc/nsswitch.conf', '/etc/resolv.conf', '/etc/hosts', '/etc/host.conf', '/etc/gai.conf', '/etc/passwd', '/etc/group',
  '/etc/ssl/certs/**', '/usr/share/ca-certificates/**', '/etc/ssl/openssl.cnf',
  '/dev/null', '/dev/zero', '/dev/urandom', '/dev/random', '/dev/tty',
];
export const IMPLICIT_WRITE = ['/dev/null', '/dev/tty', '/dev/pts/*'];

export type GrantKind = keyof GrantsInput;

/** The grants of one agent; `forInstance` expands `~` and `{cwd}`. */
export class GrantSet {
  private readonly connects?: ConnectGrant[];
  private readonly cache = new Map<string, Record<'read' | 'write' | 'exec', RegExp[] | undefined>>();

  constructor(readonly input: GrantsInput = {}) {
    if (input.connect) {
      this.connects = input.connect.map((c) => {
        const g = parseConnectGrant(c);
        if (typeof g === 'string') throw new Error(`connect grant ${g}`);
        return g;
      });
    }
  }

  declared(kind: GrantKind): boolean {
    return this.input[kind] !== undefined;
  }

  get any(): boolean {
    return Object.values(this.input).some((v) => v !== undefined);
  }

  /** null: the kind is not declared; else whether the path is inside the grant. pid: whose /proc entries are its own. */
  allowsPath(kind: 'read' | 'write' | 'exec', path: string, home: string | null, cwd: string | null, pid?: number): boolean | null {
    const globs = this.input[kind];
    if (!globs) return null;
    if (kind === 'read' && pid !== undefined && (path.startsWith(`/proc/${pid}/`) || path.startsWith('/proc/self/') || path.startsWith('/proc/thread-self/'))) return true;
    const key = `${home ?? ''}\0${cwd ?? ''}`;
    let compiled = this.cache.get(key);
    if (!compiled) {
      const build = (list: string[] | undefined, implicit: string[]) =>
        list && [...list, ...implicit].map((g) => expandGlob(g, home, cwd)).filter((g): g is string => g !== null).map(globToRegExp);
      compiled = { read: build(this.input.read, IMPLICIT_READ), write: build(this.input.write, IMPLICIT_WRITE), exec: build(this.input.exec, []) };
      if (this.cache.size > 256) this.cache.clear();
      this.cache.set(key, compiled);
    }
    return compiled[kind]!.some((re) => re.test(path));
  }

  /** null: connect is not declared; else whether the destination is inside the grant. */
  allowsConnect(addr: string, port: number, host: string | undefined): boolean | null {
    if (!this.connects) return null;
    if (port === 53) return true;
    return this.connects.some((g) => connectGranted(g, addr, port, host));
  }

  /** Short text of a kind's grant for alert lines. */
  describe(kind: GrantKind): string {
    const list = this.input[kind] ?? [];
    const shown = list.slice(0, 4).join(', ');
    return list.length > 4 ? `${shown}, … (${list.length})` : shown || 'nothing';
  }
}
