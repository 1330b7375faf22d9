// Where a hash job's file lives, as far as this collector can know: inside
// the reading process's root while it lives (/proc/<pid>/root, checked to be
// still in the event's mount namespace), else the same path here if the
// event's mount namespace is the collector's own, else nowhere we may look.
// A batch from another host (TCP) is never hashed here: the collector's file
// of the same name is not the one the agent read.
import { readlinkSync } from 'node:fs';
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

export function locate(path: Buffer, o: JobOrigin): Location {
  if (o.remote) return { kind: 'remote' };
  const creds = o.uid === 0 ? null : { uid: o.uid, gid: o.gid };
  if (o.pid > 0 && o.mntns !== 0 && mountNamespaceOf(o.pid) === o.mntns) {
    return { kind: 'local', target: { path, root: `/proc/${o.pid}/root`, creds }, source: 'local-proc-root' };
  }
  if (OWN_MNTNS !== null && o.mntns === OWN_MNTNS) return { kind: 'local', target: { path, root: '', creds }, source: 'local-path' };
  return { kind: 'other_namespace' };
}
