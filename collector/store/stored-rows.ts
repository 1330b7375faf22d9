// Reading event rows back: raw `events` rows (integers as BigInt, interned
// ids) -> StoredEvent with strings resolved, the form canonical.ts hashes and
// event-rows.ts turns into a SensorEvent.
import type { StoredEvent } from './canonical.js';
import type { StringReader } from './interning.js';

/** A row of `SELECT * FROM events` read with safeIntegers(true). */
export type RawEventRow = Record<string, bigint | Buffer | null>;

const int = (v: bigint | Buffer | null | undefined): number | null => {
  if (v === null || v === undefined) return null;
  if (typeof v !== 'bigint') throw new Error('stored integer column holds a non-integer');
  return Number(v);
};
const req = (v: bigint | Buffer | null | undefined, what: string): number => {
  const n = int(v);
  if (n === null) throw new Error(`stored event lacks ${what}`);
  return n;
};
const big = (v: bigint | Buffer | null | undefined): bigint | null => (typeof v === 'bigint' ? v : null);
const blob = (v: bigint | Buffer | null | undefined): Buffer | null => (Buffer.isBuffer(v) ? v : null);

export function decodeEventRow(r: RawEventRow, strings: StringReader): StoredEvent {
  return {
    id: r.id as bigint,
    batchId: r.batch_id as bigint,
    columns: {
      type: req(r.type, 'type'),
      tsNs: big(r.ts_ns) ?? 0n,
      pid: req(r.pid, 'pid'),
      tid: req(r.tid, 'tid'),
      ppid: req(r.ppid, 'ppid'),
      uid: req(r.uid, 'uid'),
      gid: req(r.gid, 'gid'),
      comm: strings.bytes(int(r.comm_sid)) ?? Buffer.alloc(0),
      agent: strings.agent(int(r.agent_id)),
      cgroup: big(r.cgroup) ?? 0n,
      netns: req(r.netns, 'netns'),
      mntns: req(r.mntns, 'mntns'),
      bits: req(r.bits, 'bits'),
      path: strings.bytes(int(r.path_sid)),
      newpath: strings.bytes(int(r.newpath_sid)),
      flags: int(r.flags),
      mode: int(r.mode),
      access: int(r.access),
      syscall: int(r.syscall),
      result: int(r.result),
      family: int(r.family),
      proto: int(r.proto),
      addr: strings.bytes(int(r.addr_sid)),
      port: int(r.port),
      host: strings.bytes(int(r.host_sid)),
      code: int(r.code),
      signal: int(r.signal),
      qname: strings.bytes(int(r.qname_sid)),
      qtype: strings.bytes(int(r.qtype_sid)),
      startNs: big(r.start_ns),
      exe: strings.bytes(int(r.exe_sid)),
      cwd: strings.bytes(int(r.cwd_sid)),
      argv: blob(r.argv),
      agentPid: int(r.agent_pid), // undefined in stores made before the column: null
    },
  };
}
