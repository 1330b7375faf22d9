// Drives the containment object (bpf/egress/egress.bpf.c) through its small
// control tool, native/egress/egress-ctl.c: the programs sit on the cgroup v2
// root and are pinned under /sys/fs/bpf/agent-sensor/egress, so what this
// module sets stays in force after the CLI exits and across sensor restarts.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ipv4Text, ipv6Text } from '../../proto/net/ip-text.js';

export const EGRESS_PIN_DIR = '/sys/fs/bpf/agent-sensor/egress';

/**
 * deny: refuse all egress (isolation); shadow: count it as would_deny only;
 * grants: refuse what is outside the instance's grants; grants-shadow: count that only.
 */
export type EgressMode = 'deny' | 'shadow' | 'grants' | 'grants-shadow';
const MODE_NUMBER: Record<EgressMode, number> = { deny: 1, shadow: 2, grants: 3, 'grants-shadow': 4 };
const MODE_NAME: Record<number, EgressMode> = { 1: 'deny', 2: 'shadow', 3: 'grants', 4: 'grants-shadow' };

export interface ContainedProcess {
  pid: number;
  rootPid: number;
  mode: EgressMode;
  policy: number;
  sinceBootNs: string;
  /** egress attempts refused (in shadow mode: that would have been) */
  denied: number;
  allowedLoopback: number;
}

export interface EgressCounters {
  connect4: number; connect6: number; sendmsg4: number; sendmsg6: number;
  sockCreate: number; shadow: number; forkInherited: number; mapFull: number;
  granted: number; verdictsFull: number;
}

/** A destination refused (denied) or that would have been (would_deny), with its count. */
export interface EgressVerdict {
  rootPid: number;
  /** IP text (IPv4 plain, not v4-mapped) */
  addr: string;
  port: number;
  proto: 'tcp' | 'udp' | 'raw' | number;
  verdict: 'denied' | 'would_deny';
  count: number;
  lastBootNs: string;
}

/** One granted prefix: 16 bytes (IPv4 v4-mapped), its length in bits over those 16 bytes, port ranges. */
export interface KernelGrant {
  addr16: Buffer;
  bits: number;
  ports: [number, number][];
}

/** dist/sensor/response -> package root; also right from the sources (sensor/response). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('cannot find the agent-sensor package root');
}

export function egressCtlPath(): string {
  const p = process.env.AGENT_SENSOR_EGRESS_CTL ?? join(packageRoot(), 'bpf', 'egress', '.output', 'egress-ctl');
  if (!existsSync(p)) throw new Error(`${p} is missing: build it with \`bash scripts/build.sh\` (needs clang and libbpf)`);
  return p;
}

const NOT_LOADED = 3;

function ctl(args: string[]): string {
  try {
    return execFileSync(egressCtlPath(), args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
  } catch (err) {
    const e = err as { status?: number; stderr?: string; message: string };
    if (e.status === NOT_LOADED) throw new EgressNotLoaded();
    const why = (e.stderr ?? '').split('\n').filter((l) => l.startsWith('egress-ctl:')).join('; ') || e.message;
    throw new Error(`egress-ctl ${args[0]} failed: ${why}`);
  }
}

export class EgressNotLoaded extends Error {
  constructor() {
    super('the containment programs are not loaded (nothing isolated since boot)');
  }
}

const lines = (out: string): Record<string, unknown>[] =>
  out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

/**
 * Loads, attaches to the cgroup v2 root and pins, unless already pinned. True when it loaded.
 * Programs a release detached (nothing was contained any more) are attached again.
 */
export function ensureEgressLoaded(cgroup2Root: string): boolean {
  return lines(ctl(['ensure', cgroup2Root]))[0]?.fresh === true;
}

/** The maps alone (loopback ports, grants), no program attached until something is contained. */
export function ensureEgressMaps(cgroup2Root: string): void {
  ctl(['ensure-maps', cgroup2Root]);
}

export function containPids(rootPid: number, mode: EgressMode, pids: number[], policy = 0): void {
  for (let i = 0; i < pids.length; i += 512) {
    ctl(['add', String(rootPid), String(MODE_NUMBER[mode]), String(policy), ...pids.slice(i, i + 512).map(String)]);
  }
}

/** Replaces a policy's grants in the kernel. */
export function setGrants(policy: number, grants: KernelGrant[]): void {
  ctl(['grant-clear', String(policy)]);
  for (const g of grants) {
    ctl(['grant-set', String(policy), g.addr16.toString('hex'), String(g.bits), g.ports.map(([lo, hi]) => `${lo}-${hi}`).join(',')]);
  }
}

export function clearGrants(policy: number): void {
  try { ctl(['grant-clear', String(policy)]); } catch (err) { if (!(err instanceof EgressNotLoaded)) throw err; }
}

function ipText(hex: string): string {
  const b = Buffer.from(hex, 'hex');
  const mapped = b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
  return mapped ? ipv4Text(b, 12) : ipv6Text(b, 0);
}

const PROTO: Record<number, 'tcp' | 'udp' | 'raw'> = { 6: 'tcp', 17: 'udp', 0: 'raw' };

export function egressVerdicts(rootPid?: number): EgressVerdict[] {
  if (!existsSync(join(EGRESS_PIN_DIR, 'verdicts'))) return [];
  try {
    return lines(ctl(rootPid === undefined ? ['verdicts'] : ['verdicts', String(rootPid)])).map((r) => ({
      rootPid: Number(r.rootPid), addr: ipText(String(r.addr)), port: Number(r.port), proto: PROTO[Number(r.proto)] ?? Number(r.proto),
      verdict: r.verdict === 2 ? 'would_deny' : 'denied', count: Number(r.count), lastBootNs: String(r.lastBootNs),
    }));
  } catch (err) {
    if (err instanceof EgressNotLoaded) return [];
    throw err;
  }
}

export function clearVerdicts(rootPid: number): void {
  try { ctl(['verdicts-clear', String(rootPid)]); } catch (err) { if (!(err instanceof EgressNotLoaded)) throw err; }
}

/**
 * Drops every process of the instance, the ones the kernel added at fork too; returns them.
 * When nothing stays contained, egress-ctl also detaches the programs.
 */
export function releaseInstance(rootPid: number): { pid: number; denied: number }[] {
  try {
    return lines(ctl(['release', String(rootPid)])).filter((r) => 'released' in r)
      .map((r) => ({ pid: Number(r.released), denied: Number(r.denied) }));
  } catch (err) {
    if (err instanceof EgressNotLoaded) return [];
    throw err;
  }
}

export function listContained(): ContainedProcess[] {
  if (!existsSync(join(EGRESS_PIN_DIR, 'contained'))) return [];
  try {
    return lines(ctl(['list'])).map((r) => ({
      pid: Number(r.pid), rootPid: Number(r.rootPid), mode: MODE_NAME[Number(r.mode)] ?? 'deny', policy: Number(r.policy),
      sinceBootNs: String(r.sinceBootNs), denied: Number(r.denied), allowedLoopback: Number(r.allowedLoopback),
    }));
  } catch (err) {
    if (err instanceof EgressNotLoaded) return [];
    throw err;
  }
}

export function egressCounters(): EgressCounters | null {
  if (!existsSync(join(EGRESS_PIN_DIR, 'counters'))) return null;
  return lines(ctl(['counters']))[0] as unknown as EgressCounters;
}

/** Loopback ports contained processes may still reach (host-wide list). */
export function setLoopbackPorts(ports: number[]): void {
  const now = new Set(lines(ctl(['ports'])).map((r) => Number(r.port)));
  for (const p of ports) if (!now.has(p)) ctl(['port-add', String(p)]);
  for (const p of now) if (!ports.includes(p)) ctl(['port-del', String(p)]);
}

/** Unpins everything: the kernel detaches the programs once nothing holds them. */
export function unloadEgress(): void {
  ctl(['unload']);
}

/** Shuts down the process's sockets by descriptor (pidfd_getfd + shutdown); errno per fd, 0 when cut. */
export function cutSockets(pid: number, fds: number[]): { fd: number; error: number }[] {
  if (!fds.length) return [];
  try {
    return lines(ctl(['cut', String(pid), ...fds.map(String)])).map((r) => ({ fd: Number(r.fd), error: Number(r.error) }));
  } catch {
    return fds.map((fd) => ({ fd, error: -1 })); // the process went away, or no pidfd support
  }
}
