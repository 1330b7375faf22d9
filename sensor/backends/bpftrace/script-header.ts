// The fields every main record of the bpftrace script starts with, in this
// order (./records.ts reads them by position): time, pid<<32|tid, ppid,
// uid<<32|gid, cgroup, agent (@tr value), netns<<32|mntns, comm as %rx.
// Pairs are packed because a printf with ~20 arguments overflows the stack
// or makes LLVM call memset, which BPF cannot do. `$t` must be curtask.
/** bytes per str() (bpftrace 0.17 caps BPFTRACE_STRLEN at 200: strings live on the 512-byte BPF stack) */
export const STRLEN = 200;

export const HEADER_FMT = '%llu %llu %d %llu %llu %llu %llu %rx';
export const HEADER_ARGS = [
  'nsecs',
  '(pid << 32) | tid',
  '$t->real_parent->tgid',
  '((uint64)uid << 32) | gid',
  'cgroup',
  '@tr[pid]',
  '((uint64)$t->nsproxy->net_ns->ns.inum << 32) | $t->nsproxy->mnt_ns->ns.inum',
  'buf($t->comm, 16)',
].join(', ');

