// Features generalised so that a baseline learned in one project, home or run
// applies to the next: paths relative to the instance's cwd and to its user's
// home, volatile parts (pids, numbers, hex, uuids, temp suffixes) collapsed,
// cut to a bounded depth; destinations by host name, else address and port,
// with loopback, private and public kept apart.
import { isIP } from 'node:net';

export type Scope = 'loopback' | 'private' | 'public' | 'local';

/** Where an instance runs: what `~` and `{cwd}` stand for. */
export interface PathContext {
  home: string | null;
  cwd: string | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const HEXISH = /^[0-9a-f]{8,}$/i;
// A random tail as mktemp, Python's tempfile or editors' swap files make:
// a separator then 4+ letters/digits that mix case or letters and digits.
const TEMP_TAIL = /^(.*?[._-])([A-Za-z0-9]{4,})$/;

function isRandomTail(s: string): boolean {
  const lower = /[a-z]/.test(s);
  const upper = /[A-Z]/.test(s);
  const digit = /[0-9]/.test(s);
  return (lower && upper) || ((lower || upper) && digit);
}

/** One path segment with its volatile parts collapsed to `#` (numbers, ids) or `*` (temp tails). */
export function collapseSegment(seg: string): string {
  if (UUID.test(seg) || (HEXISH.test(seg) && /\d/.test(seg))) return '#';
  const temp = TEMP_TAIL.exec(seg);
  if (temp && isRandomTail(temp[2]!)) return `${temp[1]}*`.replace(/\d+/g, '#');
  if (!temp && seg.length >= 10 && isRandomTail(seg) && !/[._-]/.test(seg)) return '*';
  return seg.replace(/\d+/g, '#');
}

const within = (path: string, dir: string): boolean => path === dir || path.startsWith(dir.endsWith('/') ? dir : `${dir}/`);

/** The cwd counts as a project only if it is not `/`, the home itself or above it. */
function projectDir(ctx: PathContext): string | null {
  const cwd = ctx.cwd;
  if (!cwd || cwd === '/') return null;
  if (ctx.home && within(ctx.home, cwd)) return null;
  return cwd;
}

/** [root, segments]: root is `{cwd}`, `~` or `` (absolute). */
export function relativeParts(path: string, ctx: PathContext): [string, string[]] {
  const project = projectDir(ctx);
  let root = '';
  let rest = path;
  if (project && within(path, project)) {
    root = '{cwd}';
    rest = path.slice(project.length);
  } else if (ctx.home && ctx.home !== '/' && within(path, ctx.home)) {
    root = '~';
    rest = path.slice(ctx.home.replace(/\/$/, '').length);
  }
  return [root, rest.split('/').filter((s) => s.length > 0)];
}

/** A path generalised and cut to `depth` segments (deeper parts become `…`). */
export function generalisePath(path: string, ctx: PathContext, depth: number): string {
  const [root, segs] = relativeParts(path, ctx);
  // /proc/<pid>/...: the pid is volatile wherever it appears
  const out = segs.slice(0, depth).map(collapseSegment);
  if (segs.length > depth) out.push('…');
  return `${root}/${out.join('/')}`;
}

/**
 * The file-system area a path belongs to: the directory that holds it, cut
 * to a depth that depends on where it is. The project (`{cwd}`) is one area:
 * a new project's own layout is never a first visit. Under the home two
 * levels (`~/.aws`, `~/.config/gcloud`), elsewhere two (`/etc/ssl`, `/usr/lib`).
 */
export function areaOf(path: string, ctx: PathContext, homeDepth = 2, otherDepth = 2): string {
  const [root, segs] = relativeParts(path, ctx);
  if (root === '{cwd}') return '{cwd}';
  const dirs = segs.slice(0, -1); // the file's directory
  const depth = root === '~' ? homeDepth : otherDepth;
  // A file right under the root stands for its own area (~/.netrc, ~/.bash_history).
  const cut = dirs.length > 0 ? dirs.slice(0, depth) : segs.slice(0, 1);
  return `${root}/${cut.map(collapseSegment).join('/')}`;
}

function v4Scope(a: number[]): Scope {
  if (a[0] === 127) return 'loopback';
  if (a[0] === 10 || (a[0] === 172 && a[1]! >= 16 && a[1]! <= 31) || (a[0] === 192 && a[1] === 168)) return 'private';
  if ((a[0] === 169 && a[1] === 254) || (a[0] === 100 && a[1]! >= 64 && a[1]! <= 127) || a[0] === 0) return 'private';
  return 'public';
}

/** loopback, private (RFC 1918, link-local, CGNAT, ULA) or public. */
export function addressScope(addr: string): Scope {
  const kind = isIP(addr);
  if (kind === 4) return v4Scope(addr.split('.').map(Number));
  if (kind === 6) {
    const a = addr.toLowerCase();
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
    if (mapped) return v4Scope(mapped[1]!.split('.').map(Number));
    if (a === '::1') return 'loopback';
    if (/^f[cd]/.test(a) || /^fe[89ab]/.test(a) || a === '::') return 'private';
    return 'public';
  }
  return 'local';
}

export interface Destination {
  /** the baseline key: `host:port`, `addr:port`, or `unix:<path>` */
  key: string;
  scope: Scope;
  /** what the alert names: the address and port, with the host when one is known */
  text: string;
}

export function destinationOf(
  family: string, addr: string, port: number, host: string | undefined, ctx: PathContext,
): Destination {
  if (family === 'unix') {
    const p = addr.startsWith('@') ? `@${generalisePath(addr.slice(1), ctx, 6).slice(1)}` : generalisePath(addr, ctx, 6);
    return { key: `unix:${p}`, scope: 'local', text: addr };
  }
  const scope = addressScope(addr);
  const a = addr.includes(':') ? `[${addr}]` : addr;
  if (host) return { key: `${host.toLowerCase()}:${port}`, scope, text: `${host} (${a}:${port})` };
  // Any loopback address is the same machine: 127.0.0.1 and ::1 are one destination per port.
  if (scope === 'loopback') return { key: `loopback:${port}`, scope, text: `${a}:${port}` };
  return { key: `${a}:${port}`, scope, text: `${a}:${port}` };
}
