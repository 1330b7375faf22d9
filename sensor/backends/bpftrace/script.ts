// Generates the bpftrace program for the fallback backend.
//
// Why it looks the way it does (bpftrace 0.17, the Debian 12 version):
//  - Every record is one `printf` line with a leading tag, fixed numeric
//    fields, and at most one free-form string, always last. bpftrace's JSON
//    mode (-f json) escapes the line, so newlines and odd bytes in paths
//    survive; binary fields (comm, argv, sun_path) are printed with %rx
//    (every byte as \xNN). See ./lines.ts for the decoding.
//  - Strings are at most STRLEN-1 bytes and STRLEN is capped at 200 by
//    bpftrace (512-byte BPF stack). A printf that carries a 200-byte string
//    and the header fields overflows the stack, so paths and exec filenames
//    travel in their own line (P / F), paired with their record by thread in
//    user space. argv is read from the new mm in ARGV_CHUNK pieces, one
//    program per piece for the same stack reason.
//  - Several programs on one tracepoint run in the order they appear in the
//    script (checked by test/bpftrace.test.ts): the rule matcher comes first
//    so the record programs see the process as tracked.
//  - Agent rules and tracked pids live in maps (@rc comm, @rx exe, @rg
//    cgroup, @tr pid). Those known before start are written in BEGIN; later
//    changes go through bpftool into the same maps (./maps.ts), so nothing is
//    restarted and nothing is lost.
import type { KernelRule } from '../backend.js';
import { AGENT_CANDIDATE } from '../backend.js';
import { datagramProbes, DATAGRAM_MAPS } from './script-datagram.js';
import { dnsProbes } from './script-dns.js';
import { fileChangeProbes, FILE_CHANGE_MAPS } from './script-files.js';
import { HEADER_ARGS, HEADER_FMT, STRLEN } from './script-header.js';

export { STRLEN } from './script-header.js';
/** bytes of argv per A line (buf length must stay under STRLEN) */
export const ARGV_CHUNK = 192;
/** argv bytes read per exec, as bpf/events.h ARGV_MAX_LEN, rounded up to whole pieces */
export const ARGV_CHUNKS = Math.ceil(2048 / ARGV_CHUNK);
export const ARGV_MAX = ARGV_CHUNKS * ARGV_CHUNK;
export const COMM_LEN = 16;

/** open-family syscall codes on O lines */
export const OPEN_SYSCALLS = ['open', 'creat', 'openat', 'openat2'] as const;

export interface ScriptOptions {
  traceAll: boolean;
  /** never traced (the sensor) */
  selfPid: number;
  rules: KernelRule[];
  /** pid -> map value (see trackValue) */
  tracked: Map<number, number>;
  /** the running kernel's sched_process_exit has `group_dead` (5.x+ kernels vary) */
  exitHasGroupDead: boolean;
  /** which syscall tracepoints exist (open and creat are absent on arm64) */
  syscalls: Set<string>;
}

/**
 * Per-thread maps that carry syscall arguments from enter to exit (keyed by
 * tid, u64 values). Each program that reads one deletes it; a thread that
 * dies mid-syscall has its entries deleted at exit.
 */
const PAIRING_MAPS = ['op', 'op2', 'of', 'od', 'cp', 'cu', 'cl', 'dq', 'dl', ...FILE_CHANGE_MAPS, ...DATAGRAM_MAPS];

/** The @tr / rule map value: the agent id, or AGENT_CANDIDATE while user space decides. */
export function trackValue(agentId: number, candidate: boolean): number {
  return candidate ? AGENT_CANDIDATE : agentId >>> 0;
}

/** A string bpftrace can take as a literal; others go through bpftool after start. */
export function literalSafe(s: string): boolean {
  return /^[\x20-\x7e]*$/.test(s) && !/["\\]/.test(s);
}

export function generateScript(o: ScriptOptions): string {
  const watched = o.traceAll ? `pid != ${o.selfPid}` : '@tr[pid]';
  const out: string[] = [];
  out.push(begin(o));
  out.push(execProbes(o.selfPid, watched));
  out.push(forkProbes(o));
  out.push(exitProbe(o));
  out.push(openProbes(o, watched));
  out.push(chdirProbe(o, watched));
  out.push(connectProbes(watched));
  out.push(dnsProbes(o.syscalls, watched));
  out.push(datagramProbes(o.syscalls, watched));
  // END: clear maps so bpftrace does not print them on exit
  out.push(fileChangeProbes(o.syscalls, watched));
  // END: clear maps so bpftrace does not print them on exit
  out.push(`END { ${['tr', 'rc', 'rx', 'rg', 'dg', ...PAIRING_MAPS].map((m) => `clear(@${m});`).join(' ')} }`);
  return out.join('\n') + '\n';
}

function begin(o: ScriptOptions): string {
  // Every map gets a typed placeholder so it exists (bpftrace creates maps
  // from their first assignment) with the key type the probes use.
  const lines = [
    '@tr[(uint64)0] = 0; delete(@tr[(uint64)0]);',
    '@rc["-"] = 0; delete(@rc["-"]);',
    '@rx["-"] = 0; delete(@rx["-"]);',
    '@rg[(uint64)0] = 0; delete(@rg[(uint64)0]);',
    ...PAIRING_MAPS.map((m) => `@${m}[(uint64)0] = (uint64)0; delete(@${m}[(uint64)0]);`),
    '@dg[(uint64)0, (uint64)0, (uint64)0, (uint64)0, (uint64)0] = 0; delete(@dg[(uint64)0, (uint64)0, (uint64)0, (uint64)0, (uint64)0]);',
  ];
  for (const r of o.rules) {
    const v = trackValue(r.agentId, r.candidate);
    if (r.kind === 'cgroup') lines.push(`@rg[(uint64)${BigInt(r.key)}] = ${v};`);
    else if (typeof r.key === 'string' && literalSafe(r.key)) lines.push(`@${r.kind === 'comm' ? 'rc' : 'rx'}["${r.key}"] = ${v};`);
  }
  for (const [pid, v] of o.tracked) lines.push(`@tr[(uint64)${pid}] = ${v};`);
  return `BEGIN {\n  ${lines.join('\n  ')}\n}`;
}

function execProbes(selfPid: number, watched: string): string {
  const tp = 'tracepoint:sched:sched_process_exec';
  const parts: string[] = [];
  // 1. rules: a process that is not yet tracked and matches becomes tracked.
  //    An inherited agent wins over a rule (an agent's child stays its agent).
  parts.push(`${tp} /pid != ${selfPid} && @tr[pid] == 0/ {
  $v = @rc[comm];
  if ($v == 0) { $v = @rx[str(args->filename)]; }
  if ($v == 0) { $v = @rg[cgroup]; }
  if ($v != 0) { @tr[pid] = $v; }
}`);
  // 2. the record; 3. the filename; 4.. argv pieces.
  parts.push(`${tp} /${watched}/ {
  $t = curtask;
  printf("E ${HEADER_FMT} %llu %llu\\n", ${HEADER_ARGS}, $t->start_boottime, $t->mm->arg_end - $t->mm->arg_start);
}`);
  parts.push(`${tp} /${watched}/ { printf("F %d %s\\n", pid, str(args->filename)); }`);
  for (let i = 0; i < ARGV_CHUNKS; i++) {
    const off = i * ARGV_CHUNK;
    parts.push(`${tp} /${watched}/ {
  $m = curtask->mm; $n = $m->arg_end - $m->arg_start;
  if ($n > ${off}) { $l = $n - ${off}; if ($l > ${ARGV_CHUNK}) { $l = ${ARGV_CHUNK}; } printf("A %d ${i} %rx\\n", pid, buf(uptr($m->arg_start + ${off}), $l)); }
}`);
  }
  return parts.join('\n');
}

function forkProbes(o: ScriptOptions): string {
  // Inherit at sched_process_fork, in the parent, before the child can run:
  // a parent that exits right after fork cannot orphan an untracked child.
  // The tracepoint also fires for new threads; their tid key is harmless
  // (lookups are by tgid) and is deleted when the thread exits.
  // The fork *record* is written by the child on its first return from the
  // clone family (ret == 0), where pid == tid tells a process from a thread
  // and the child's own task gives start time and parent.
  const exits = ['clone', 'clone3', 'fork', 'vfork']
    .filter((s) => o.syscalls.has(`sys_exit_${s}`))
    .map((s) => `tracepoint:syscalls:sys_exit_${s}`).join(',');
  const watched = o.traceAll ? `pid != ${o.selfPid}` : '@tr[pid]';
  return `tracepoint:sched:sched_process_fork /@tr[pid]/ { @tr[(uint64)args->child_pid] = @tr[pid]; }
${exits} /args->ret == 0 && pid == tid && (${watched})/ {
  $t = curtask;
  printf("K ${HEADER_FMT} %llu\\n", ${HEADER_ARGS}, $t->start_boottime);
}`;
}

function exitProbe(o: ScriptOptions): string {
  const groupDead = o.exitHasGroupDead ? 'args->group_dead' : 'pid == tid';
  const watched = o.traceAll ? `pid != ${o.selfPid}` : '@tr[pid]';
  return `tracepoint:sched:sched_process_exit {
  if (tid != pid) { delete(@tr[tid]); }
  ${PAIRING_MAPS.map((m) => `delete(@${m}[tid]);`).join(' ')}
  if (${groupDead} && (${watched})) {
    $t = curtask;
    printf("X ${HEADER_FMT} %d\\n", ${HEADER_ARGS}, $t->exit_code);
  }
  if (${groupDead}) { delete(@tr[pid]); }
}`;
}

function openProbes(o: ScriptOptions, watched: string): string {
  const parts: string[] = [];
  // enter: remember the user pointer and arguments per thread; the path is
  // read at exit, when the kernel has faulted its page in (the libbpf side's
  // EVF_PATH_LATE case). @op feeds the record, @op2 the path line, so that
  // each program deletes only its own entry whatever order they run in.
  const enter: Record<string, { ptr: string; flags: string; mode: string; dfd: string }> = {
    open: { ptr: 'args->filename', flags: 'args->flags', mode: 'args->mode', dfd: '-100' },
    creat: { ptr: 'args->pathname', flags: '0x241', mode: 'args->mode', dfd: '-100' }, // O_CREAT|O_WRONLY|O_TRUNC
    openat: { ptr: 'args->filename', flags: 'args->flags', mode: 'args->mode', dfd: 'args->dfd' },
    openat2: { ptr: 'args->filename', flags: 'args->how->flags', mode: 'args->how->mode', dfd: 'args->dfd' },
  };
  OPEN_SYSCALLS.forEach((name, code) => {
    if (!o.syscalls.has(`sys_enter_${name}`) || !o.syscalls.has(`sys_exit_${name}`)) return;
    const e = enter[name];
    parts.push(`tracepoint:syscalls:sys_enter_${name} /${watched}/ {
  @op[tid] = (uint64)${e.ptr}; @op2[tid] = (uint64)${e.ptr};
  @of[tid] = ((uint64)${e.flags} << 32) | (uint32)${e.mode};
  @od[tid] = ((uint64)(uint32)${e.dfd} << 32) | ${code};
}
tracepoint:syscalls:sys_exit_${name} /@op[tid]/ {
  $t = curtask; $p = @op[tid];
  printf("O ${HEADER_FMT} %d %llu %llu %d\\n", ${HEADER_ARGS}, args->ret, @of[tid], @od[tid], *uptr((uint8 *)($p + ${STRLEN - 1})));
  delete(@op[tid]); delete(@of[tid]); delete(@od[tid]);
}
tracepoint:syscalls:sys_exit_${name} /@op2[tid]/ {
  printf("P %d %s\\n", tid, str(@op2[tid]));
  delete(@op2[tid]);
}`);
  });
  return parts.join('\n');
}

/** W lines: a successful chdir/fchdir, so user space knows when a cwd it read went stale (./cwd.ts) */
function chdirProbe(o: ScriptOptions, watched: string): string {
  const tps = ['chdir', 'fchdir'].filter((n) => o.syscalls.has(`sys_exit_${n}`)).map((n) => `tracepoint:syscalls:sys_exit_${n}`);
  if (tps.length === 0) return '';
  return `${tps.join(',')} /args->ret == 0 && (${watched})/ { printf("W %llu %d\\n", nsecs, pid); }`;
}

function connectProbes(watched: string): string {
  // sun_path goes on its own U line (with the C printf, one program
  // overflows the stack). The socket's type and protocol come from the fd's struct socket, read
  // at exit (the fd cannot be reused while connect runs on it). Address
  // words are printed as the CPU reads them (network byte order in memory);
  // ./records.ts writes them back as little-endian to get the bytes. Fields
  // are packed in pairs: a printf with ~20 arguments makes LLVM zero its
  // argument struct with a memset call, which BPF cannot do.
  return `tracepoint:syscalls:sys_enter_connect /${watched}/ {
  @cp[tid] = (uint64)args->uservaddr; @cu[tid] = (uint64)args->uservaddr;
  @cl[tid] = ((uint64)(uint32)args->fd << 32) | (uint32)args->addrlen;
}
tracepoint:syscalls:sys_exit_connect /@cu[tid]/ {
  $sa = (struct sockaddr *)uptr(@cu[tid]);
  if ($sa->sa_family == 1) {
    $len = @cl[tid] & 0xffffffff;
    $ul = $len > 2 ? $len - 2 : 0; if ($ul > 108) { $ul = 108; }
    printf("U %d %rx\\n", tid, buf(uptr(@cu[tid] + 2), $ul));
  }
  delete(@cu[tid]);
}
tracepoint:syscalls:sys_exit_connect /@cp[tid]/ {
  $t = curtask;
  $sa = (struct sockaddr *)uptr(@cp[tid]);
  $fd = @cl[tid] >> 32; $len = @cl[tid] & 0xffffffff;
  $fam = $sa->sa_family;
  $f = *($t->files->fdt->fd + $fd);
  $sk = ((struct socket *)$f->private_data)->sk;
  $kind = ((uint64)$sk->sk_type << 16) | $sk->sk_protocol;
  $port = (uint64)0; $a0 = (uint64)0; $a1 = (uint64)0; $a2 = (uint64)0; $a3 = (uint64)0; $ul = (uint64)0;
  if ($fam == 2) {
    $in = (struct sockaddr_in *)$sa;
    $port = $in->sin_port; $a0 = $in->sin_addr.s_addr;
  } else if ($fam == 10) {
    $in6 = (struct sockaddr_in6 *)$sa;
    $port = $in6->sin6_port;
    $a0 = $in6->sin6_addr.in6_u.u6_addr32[0]; $a1 = $in6->sin6_addr.in6_u.u6_addr32[1];
    $a2 = $in6->sin6_addr.in6_u.u6_addr32[2]; $a3 = $in6->sin6_addr.in6_u.u6_addr32[3];
  } else if ($fam == 1) {
    $ul = $len > 2 ? $len - 2 : 0; if ($ul > 108) { $ul = 108; }
  }
  printf("C ${HEADER_FMT} %d %llu %llu %llu %llu\\n", ${HEADER_ARGS}, args->ret,
    ($fd << 32) | $ul, ($fam << 48) | ($port << 32) | $kind, ($a0 << 32) | $a1, ($a2 << 32) | $a3);
  delete(@cp[tid]); delete(@cl[tid]);
}`;
}
