// Writes agent rules and tracked pids into a running bpftrace's maps.
//
// bpftrace reads no input once running, but its maps are ordinary BPF maps:
// we find them through the bpftrace process's own file descriptors
// (/proc/<pid>/fdinfo has map_id for each map fd), name them with
// `bpftool map show`, and update them with one `bpftool batch` per flush.
// This keeps the kernel-side filter exact without restarting bpftrace (a
// restart would miss events while it recompiles, ~10 s on a small host).
import { readdirSync, readFileSync } from 'node:fs';
import { execa } from 'execa';
import { COMM_LEN, STRLEN } from './script.js';

export type MapName = 'tr' | 'rc' | 'rx' | 'rg';

export interface MapUpdate {
  map: MapName;
  key: Buffer;
  value: number;
}

export function u64Key(n: number | bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

/** A string key as bpftrace stores it: bytes then NULs, fixed width. Null when it does not fit. */
export function stringKey(s: string, width: number): Buffer | null {
  const bytes = Buffer.from(s, 'utf8');
  if (bytes.length >= width) return null;
  const b = Buffer.alloc(width);
  bytes.copy(b);
  return b;
}

export const KEY_WIDTH: Record<MapName, number> = { tr: 8, rc: COMM_LEN, rx: STRLEN, rg: 8 };

/** map ids of the BPF maps a process holds open */
function mapIdsOf(pid: number): number[] {
  const ids: number[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    let info: string;
    try {
      info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'latin1');
    } catch {
      continue;
    }
    const m = /^map_id:\s+(\d+)$/m.exec(info);
    if (m) ids.push(Number(m[1]));
  }
  return ids;
}

export class BpftraceMaps {
  private ids: Partial<Record<MapName, number>> = {};

  /** `onSpawn` learns each bpftool pid, so --all mode can leave our own helpers out */
  constructor(private readonly bpftool = 'bpftool', private readonly onSpawn: (pid: number) => void = () => {}) {}

  private run(args: string[], input?: string): Promise<{ stdout: string }> {
    const sub = execa(this.bpftool, args, { input, timeout: 30_000 });
    if (sub.pid) this.onSpawn(sub.pid);
    return sub;
  }

  /** Finds the AT_tr/AT_rc/AT_rx/AT_rg maps of bpftrace process `pid`. */
  async locate(pid: number): Promise<void> {
    const mine = new Set(mapIdsOf(pid));
    const { stdout } = await this.run(['-j', 'map', 'show']);
    const all = JSON.parse(stdout) as { id: number; name?: string }[];
    for (const m of all) {
      if (!mine.has(m.id) || !m.name?.startsWith('AT_')) continue;
      const name = m.name.slice(3) as MapName;
      if (name in KEY_WIDTH) this.ids[name] = m.id;
    }
    const missing = (Object.keys(KEY_WIDTH) as MapName[]).filter((n) => this.ids[n] === undefined);
    if (missing.length > 0) throw new Error(`bpftrace maps not found: ${missing.map((n) => '@' + n).join(', ')}`);
  }

  /** Applies updates in one bpftool batch; rejects with bpftool's message. */
  async apply(updates: MapUpdate[]): Promise<void> {
    if (updates.length === 0) return;
    const lines = updates.map((u) => {
      const id = this.ids[u.map];
      if (id === undefined) throw new Error(`map @${u.map} not located`);
      return `map update id ${id} key hex ${hex(u.key)} value hex ${hex(u64Key(u.value))}`;
    });
    await this.run(['batch', 'file', '-'], lines.join('\n') + '\n');
  }
}

function hex(b: Buffer): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(' ');
}
