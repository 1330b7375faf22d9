// The live state of an instance's processes from /proc, for the evidence
// bundle: command lines, executable, cwd, user, open files, sockets, and the
// NAMES of environment variables (never their values: they hold secrets).
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { byteString } from '../../proto/events/bytes.js';
import type { ByteString } from '../../proto/events/types.js';
import { cgroupV2Of, readProc } from './proc-table.js';

export interface SocketInfo {
  inode: number;
  proto: string;
  local: string;
  remote: string;
  state: string;
}

export interface ProcessSnapshot {
  pid: number;
  ppid: number;
  startTicks: number;
  uid: number[];
  gid: number[];
  comm: string;
  exe: ByteString | null;
  cwd: ByteString | null;
  cmdline: ByteString[];
  environNames: ByteString[];
  cgroup: string | null;
  fds: { fd: number; target: ByteString; socket?: SocketInfo }[];
}

const TCP_STATES = ['', 'ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT1', 'FIN_WAIT2', 'TIME_WAIT', 'CLOSE', 'CLOSE_WAIT', 'LAST_ACK', 'LISTEN', 'CLOSING'];

function readBytes(path: string): Buffer | null {
  try {
    return readFileSync(path);
  } catch {
    return null;
  }
}

function link(path: string): ByteString | null {
  try {
    return byteString(readlinkSync(path, { encoding: 'buffer' }));
  } catch {
    return null;
  }
}

const splitNul = (b: Buffer | null): Buffer[] => {
  if (!b || !b.length) return [];
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < b.length; i++) {
    if (b[i] === 0) {
      parts.push(b.subarray(start, i));
      start = i + 1;
    }
  }
  if (start < b.length) parts.push(b.subarray(start));
  return parts;
};

function v4(hex: string): string {
  const n = parseInt(hex, 16);
  return [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, n >>> 24].join('.');
}

function v6(hex: string): string {
  const bytes: number[] = [];
  for (let w = 0; w < 4; w++) {
    const word = hex.slice(w * 8, w * 8 + 8);
    for (let i = 3; i >= 0; i--) bytes.push(parseInt(word.slice(i * 2, i * 2 + 2), 16));
  }
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
}

/** inode -> socket, from the pid's own network namespace view. */
function socketTable(pid: number): Map<number, SocketInfo> {
  const table = new Map<number, SocketInfo>();
  for (const proto of ['tcp', 'tcp6', 'udp', 'udp6']) {
    const text = readBytes(`/proc/${pid}/net/${proto}`)?.toString('latin1');
    if (!text) continue;
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const [la, lp] = f[1]!.split(':');
      const [ra, rp] = f[2]!.split(':');
      const addr = proto.endsWith('6') ? v6 : v4;
      const inode = Number(f[9]);
      table.set(inode, {
        inode, proto, local: `${addr(la!)}:${parseInt(lp!, 16)}`, remote: `${addr(ra!)}:${parseInt(rp!, 16)}`,
        state: proto.startsWith('tcp') ? TCP_STATES[parseInt(f[3]!, 16)] ?? f[3]! : parseInt(f[3]!, 16) === 1 ? 'CONNECTED' : 'UNCONNECTED',
      });
    }
  }
  const unix = readBytes(`/proc/${pid}/net/unix`)?.toString('latin1');
  for (const line of unix?.split('\n').slice(1) ?? []) {
    const f = line.trim().split(/\s+/);
    if (f.length < 7) continue;
    const inode = Number(f[6]);
    table.set(inode, { inode, proto: 'unix', local: f[7] ?? '', remote: '', state: f[5] === '03' ? 'CONNECTED' : 'UNCONNECTED' });
  }
  return table;
}

export function snapshotProcess(pid: number): ProcessSnapshot | null {
  const p = readProc(pid);
  if (!p) return null;
  const status = readBytes(`/proc/${pid}/status`)?.toString('latin1') ?? '';
  const ids = (key: string) => (new RegExp(`^${key}:\\s+(.*)$`, 'm').exec(status)?.[1] ?? '').split(/\s+/).filter(Boolean).map(Number);
  const sockets = socketTable(pid);
  const fds: ProcessSnapshot['fds'] = [];
  let names: string[] = [];
  try { names = readdirSync(`/proc/${pid}/fd`); } catch { /* gone or not ours to list */ }
  for (const n of names.sort((a, b) => Number(a) - Number(b))) {
    const target = link(`/proc/${pid}/fd/${n}`);
    if (target === null) continue;
    const m = typeof target === 'string' ? /^socket:\[(\d+)\]$/.exec(target) : null;
    const socket = m ? sockets.get(Number(m[1])) : undefined;
    fds.push({ fd: Number(n), target, ...(socket ? { socket } : {}) });
  }
  return {
    pid, ppid: p.ppid, startTicks: p.startTicks, uid: ids('Uid'), gid: ids('Gid'),
    comm: (readBytes(`/proc/${pid}/comm`)?.toString('utf8') ?? '').trimEnd(),
    exe: link(`/proc/${pid}/exe`), cwd: link(`/proc/${pid}/cwd`),
    cmdline: splitNul(readBytes(`/proc/${pid}/cmdline`)).map(byteString),
    environNames: splitNul(readBytes(`/proc/${pid}/environ`)).map((kv) => {
      const eq = kv.indexOf(0x3d);
      return byteString(eq < 0 ? kv : kv.subarray(0, eq));
    }),
    cgroup: cgroupV2Of(pid), fds,
  };
}

/** The process's sockets by descriptor, with what /proc/PID/net says of each. */
export function socketFds(pid: number): { fd: number; socket: SocketInfo }[] {
  const sockets = socketTable(pid);
  const out: { fd: number; socket: SocketInfo }[] = [];
  let names: string[] = [];
  try { names = readdirSync(`/proc/${pid}/fd`); } catch { return out; }
  for (const n of names) {
    const target = link(`/proc/${pid}/fd/${n}`);
    const m = typeof target === 'string' ? /^socket:\[(\d+)\]$/.exec(target) : null;
    const socket = m ? sockets.get(Number(m[1])) : undefined;
    if (socket) out.push({ fd: Number(n), socket });
  }
  return out;
}
