// unlink/rmdir, rename and link/symlink for the bpftrace script.
//
// Same shape as the open family (./script.ts): enter saves the user
// pointers and arguments per thread, exit writes an M record with the
// result, and one program per path writes an m line with that path (a
// record with two 200-byte strings does not fit the BPF stack). Paths are
// read at exit, after the kernel has faulted them in. Each program deletes
// only the map entries it owns, so their order does not matter.
import { HEADER_ARGS, HEADER_FMT, STRLEN } from './script-header.js';

export const FILE_CHANGE_MAPS = ['fx', 'ff', 'fq0', 'fq1'];

/** kind numbers on M lines */
export const FILE_CHANGE_KINDS = ['unlink', 'rmdir', 'rename', 'link', 'symlink'] as const;
const KIND = { unlink: 0, rmdir: 1, rename: 2, link: 3, symlink: 4 };
const AT_FDCWD = '-100';
/** set in every @ff value: unlink has kind 0 and flags 0, and a 0 reads as "no entry" */
const PRESENT = '(1 << 62)';
const AT_REMOVEDIR = '0x200';

interface Site {
  name: string;
  /** expression of the kind number (unlinkat decides at run time) */
  kind: string;
  path0: string;
  dfd0: string;
  path1?: string;
  dfd1?: string;
  flags: string;
}

const SITES: Site[] = [
  { name: 'unlink', kind: `${KIND.unlink}`, path0: 'args->pathname', dfd0: AT_FDCWD, flags: '0' },
  { name: 'unlinkat', kind: `(args->flag & ${AT_REMOVEDIR}) ? ${KIND.rmdir} : ${KIND.unlink}`, path0: 'args->pathname', dfd0: 'args->dfd', flags: '0' },
  { name: 'rmdir', kind: `${KIND.rmdir}`, path0: 'args->pathname', dfd0: AT_FDCWD, flags: '0' },
  { name: 'rename', kind: `${KIND.rename}`, path0: 'args->oldname', dfd0: AT_FDCWD, path1: 'args->newname', dfd1: AT_FDCWD, flags: '0' },
  { name: 'renameat', kind: `${KIND.rename}`, path0: 'args->oldname', dfd0: 'args->olddfd', path1: 'args->newname', dfd1: 'args->newdfd', flags: '0' },
  { name: 'renameat2', kind: `${KIND.rename}`, path0: 'args->oldname', dfd0: 'args->olddfd', path1: 'args->newname', dfd1: 'args->newdfd', flags: 'args->flags' },
  { name: 'link', kind: `${KIND.link}`, path0: 'args->oldname', dfd0: AT_FDCWD, path1: 'args->newname', dfd1: AT_FDCWD, flags: '0' },
  { name: 'linkat', kind: `${KIND.link}`, path0: 'args->oldname', dfd0: 'args->olddfd', path1: 'args->newname', dfd1: 'args->newdfd', flags: 'args->flags' },
  // a symlink's first path is the target text, stored verbatim (dfd unused)
  { name: 'symlink', kind: `${KIND.symlink}`, path0: 'args->oldname', dfd0: AT_FDCWD, path1: 'args->newname', dfd1: AT_FDCWD, flags: '0' },
  { name: 'symlinkat', kind: `${KIND.symlink}`, path0: 'args->oldname', dfd0: AT_FDCWD, path1: 'args->newname', dfd1: 'args->newdfd', flags: '0' },
];

export function fileChangeProbes(syscalls: Set<string>, watched: string): string {
  const out: string[] = [];
  for (const s of SITES) {
    if (!syscalls.has(`sys_enter_${s.name}`) || !syscalls.has(`sys_exit_${s.name}`)) continue;
    const two = s.path1 !== undefined;
    out.push(`tracepoint:syscalls:sys_enter_${s.name} /${watched}/ {
  @fx[tid] = ((uint64)(uint32)${s.dfd0} << 32) | (uint32)${s.dfd1 ?? AT_FDCWD};
  @ff[tid] = ${PRESENT} | ((uint64)(${s.kind}) << 32) | (uint32)${s.flags};
  @fq0[tid] = (uint64)${s.path0};${two ? `\n  @fq1[tid] = (uint64)${s.path1};` : ''}
}
tracepoint:syscalls:sys_exit_${s.name} /@ff[tid]/ {
  $t = curtask;
  printf("M ${HEADER_FMT} %d %llu %llu\\n", ${HEADER_ARGS}, args->ret, @ff[tid], @fx[tid]);
  delete(@ff[tid]); delete(@fx[tid]);
}
tracepoint:syscalls:sys_exit_${s.name} /@fq0[tid]/ {
  $p = @fq0[tid];
  printf("m %d 0 %d %s\\n", tid, *uptr((uint8 *)($p + ${STRLEN - 1})), str($p));
  delete(@fq0[tid]);
}${two ? `
tracepoint:syscalls:sys_exit_${s.name} /@fq1[tid]/ {
  $p = @fq1[tid];
  printf("m %d 1 %d %s\\n", tid, *uptr((uint8 *)($p + ${STRLEN - 1})), str($p));
  delete(@fq1[tid]);
}` : ''}`);
  }
  return out.join('\n');
}
