// Where a hash job's file lives, as far as this collector can know: inside
// the reading process's root while it lives (/proc/<pid>/root, checked to be
// still in the event's mount namespace), else the same path here if the
// event's mount namespace is the collector's own, else nowhere we may look.
// A batch from another host (TCP) is never hashed here: the collector's file
// of the same name is not the one the agent read.
import { readFileSync, readlinkSync } from 'node:fs';
import type { HashSource, HashTarget } from './file-hasher.js';

export interface JobOrigin {
  pid: number;
  uid: number;
  gid: number;
  mntns: number;
  /** the batch came over TCP from another host */
  remote: boolean;
}

function mountNamespaceOf(pid: number | 'self'): number | null {
  try {
    const m = /^mnt:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/ns/mnt`));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

const OWN_MNTNS = mountNamespaceOf('self');

export type Location =
  | { kind: 'local'; target: HashTarget; source: HashSource }
  | { kind: 'remote' }
  | { kind: 'other_namespace' };

/** The living process's supplementary groups, if its real uid and gid are still the event's. */
function groupsOf(pid: number, uid: number, gid: number): number[] | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const ids = (name: string) => (new RegExp(`^${name}:\\s*([\\d \\t]*)$`, 'm').exec(status)?.[1] ?? '').trim().split(/\s+/).filter(Boolean).map(Number);
    const [ruid] = ids('Uid');
    const [rgid] = ids('Gid');
    if (ruid !== uid || rgid !== gid) return undefined;
    return ids('Groups');
  } catch {
    return undefined;
  }
}

export function locate(path: Buffer, o: JobOrigin): Location {
  if (o.remote) return { kind: 'remote' };
  let creds: { uid: number; gid: number; groups?: number[] } | null = o.uid === 0 ? null : { uid: o.uid, gid: o.gid };
  if (o.pid > 0 && o.mntns !== 0 && mountNamespaceOf(o.pid) === o.mntns) {
    if (creds) creds = { ...creds, groups: groupsOf(o.pid, o.uid, o.gid) };
    return { kind: 'local', target: { path, root: `/proc/${o.pid}/root`, creds }, source: 'local-proc-root' };
  }
  if (OWN_MNTNS !== null && o.mntns === OWN_MNTNS) return { kind: 'local', target: { path, root: '', creds }, source: 'local-path' };
  return { kind: 'other_namespace' };
}
