// The sensor's half of `sensor launch` (served through the collector's
// LaunchControl service, collector/server/launch-control.ts): a launched
// cgroup becomes an agent rule, and the cgroup is removed once it empties,
// whether the launched command's descendants outlive it or not.
//
// Removal: a cgroup that has been populated and is empty again, or that launch
// reported as ended and is empty, is removed and its kernel rule dropped.
// cgroup.events is watched (inotify) and, in case a change is missed, polled.
import * as grpc from '@grpc/grpc-js';
import { existsSync, readdirSync, watch, type FSWatcher } from 'node:fs';
import { basename, join } from 'node:path';
import type { Logger } from 'pino';
import { LaunchControlError, type LaunchControl, type LaunchRegistration } from '../../collector/server/launch-control.js';
import { AGENT_NAME_PATTERN, AGENT_NAME_RULE } from '../agents/config.js';
import { cgroupIdOf } from '../agents/registry.js';
import type { Agent } from '../agents/registry.js';
import { cgroup2Mount, cgroupPopulated, checkLaunchCgroup, launchParent, removeCgroup } from './cgroup-v2.js';

/** What the registry needs of the Sensor (sensor.ts). */
export interface CgroupWatcher {
  watchCgroup(name: string, cgroupId: bigint): Promise<{ agentId: number; configured: boolean }>;
  removeCgroupAgent(cgroupId: bigint): void;
}

interface LiveLaunch {
  agent: string;
  id: bigint;
  seenPopulated: boolean;
  ended: boolean;
  watcher?: FSWatcher;
}

const POLL_MS = 2000;
/** <agent>-<launcher pid>-<8 hex>, as makeLaunchCgroup names a leaf */
const LEAF_NAME = /^([A-Za-z0-9][A-Za-z0-9._-]{0,62})-(\d+)-[0-9a-f]{8}$/;

/** Whether the `sensor launch` that made this leaf still runs (its pid is in the leaf's name). */
function launcherAlive(path: string): boolean {
  const m = LEAF_NAME.exec(basename(path));
  return m === null || existsSync(`/proc/${m[2]}`);
}

/** What adoption needs of the AgentRegistry, before the sensor starts. */
export interface LaunchAdopter {
  addAgent(name: string): Agent;
  addCgroup(cgroupId: bigint, agent: Agent): boolean;
}

export class LaunchRegistry implements LaunchControl {
  private sensor?: CgroupWatcher;
  private readonly live = new Map<string, LiveLaunch>();
  private poll?: NodeJS.Timeout;
  private mount?: string;

  constructor(private readonly log: Logger) {}

  /** Calls are refused (UNAVAILABLE) until the sensor is started and attached. */
  attach(sensor: CgroupWatcher): void {
    this.sensor = sensor;
  }

  /**
   * Launch cgroups an earlier run left (the sensor restarted while a launched
   * command ran, or launch was killed). Call before the sensor starts: a leaf
   * with processes is given back to its agent in the registry, so the start's
   * rules and /proc scan cover it, and it is removed once empty; an empty leaf
   * whose launcher is gone is removed now. An empty leaf whose launcher lives
   * is one being registered: left alone. Returns how many were adopted.
   */
  adoptLeftovers(registry: LaunchAdopter): number {
    let names: string[];
    try {
      this.mount ??= cgroup2Mount();
      names = readdirSync(launchParent(this.mount), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
    } catch {
      return 0; // no cgroup v2, or no launch ever ran here
    }
    let adopted = 0;
    for (const name of names) {
      const m = LEAF_NAME.exec(name);
      if (!m) continue;
      const path = join(launchParent(this.mount), name);
      const alive = launcherAlive(path);
      try {
        if (!cgroupPopulated(path)) {
          if (!alive && removeCgroup(path)) this.log.info({ cgroup: path }, 'empty launch cgroup of an earlier run removed');
          continue;
        }
        const id = cgroupIdOf(path);
        if (!registry.addCgroup(id, registry.addAgent(m[1]!))) continue;
        this.watchFrom(path, { agent: m[1]!, id, seenPopulated: true, ended: !alive });
        adopted++;
        this.log.info({ agent: m[1], cgroup: path }, 'launch cgroup of an earlier run adopted');
      } catch (err) {
        this.log.warn({ cgroup: path, err: (err as Error).message }, 'launch cgroup of an earlier run left as it is');
      }
    }
    return adopted;
  }

  async register(agent: string, cgroupPath: string): Promise<LaunchRegistration> {
    if (!this.sensor) throw new LaunchControlError(grpc.status.UNAVAILABLE, 'the sensor is still starting; try again');
    if (!AGENT_NAME_PATTERN.test(agent)) throw new LaunchControlError(grpc.status.INVALID_ARGUMENT, `agent name ${JSON.stringify(agent)}: ${AGENT_NAME_RULE}`);
    const path = this.launchCgroup(cgroupPath);
    if (this.live.has(path)) throw new LaunchControlError(grpc.status.ALREADY_EXISTS, `${path} is already registered`);
    if (cgroupPopulated(path)) throw new LaunchControlError(grpc.status.FAILED_PRECONDITION, `${path} already has processes; launch registers an empty cgroup`);
    const id = cgroupIdOf(path);
    const { configured } = await this.sensor.watchCgroup(agent, id);
    this.watchFrom(path, { agent, id, seenPopulated: false, ended: false });
    return { cgroupId: String(id), configured };
  }

  private watchFrom(path: string, launch: LiveLaunch): void {
    try {
      launch.watcher = watch(join(path, 'cgroup.events'), () => this.check(path));
      launch.watcher.on('error', () => launch.watcher?.close()); // the poll still covers it
    } catch {
      // no inotify here: the poll alone
    }
    this.live.set(path, launch);
    this.poll ??= setInterval(() => {
      for (const p of this.live.keys()) this.check(p);
    }, POLL_MS).unref();
  }

  async end(cgroupPath: string): Promise<boolean> {
    const path = this.launchCgroup(cgroupPath);
    const launch = this.live.get(path);
    if (!launch) return !cgroupPopulated(path) && removeCgroup(path); // registered by an earlier run of the sensor
    launch.ended = true;
    return this.check(path);
  }

  /** Stops watching; cgroups still populated stay (a later `end` or run cleans them). */
  close(): void {
    clearInterval(this.poll);
    this.poll = undefined;
    for (const l of this.live.values()) l.watcher?.close();
    this.live.clear();
  }

  /** Launches being watched (tests, status). */
  get size(): number {
    return this.live.size;
  }

  /** true when the cgroup is gone (removed now or before). */
  private check(path: string): boolean {
    const launch = this.live.get(path);
    if (!launch) return true;
    try {
      if (cgroupPopulated(path)) {
        launch.seenPopulated = true;
        return false;
      }
      // Never populated: the command has not joined yet, unless its launcher died first.
      if (!launch.ended && !launch.seenPopulated && launcherAlive(path)) return false;
      if (!removeCgroup(path)) return false;
    } catch (err) {
      this.log.warn({ cgroup: path, err: (err as Error).message }, 'launch cgroup check failed');
      return false;
    }
    launch.watcher?.close();
    this.live.delete(path);
    try {
      this.sensor?.removeCgroupAgent(launch.id);
    } catch (err) {
      this.log.warn({ cgroup: path, err: (err as Error).message }, 'launch cgroup rule not removed');
    }
    this.log.info({ agent: launch.agent, cgroup: path }, 'launch cgroup empty and removed');
    return true;
  }

  private launchCgroup(cgroupPath: string): string {
    this.mount ??= cgroup2Mount();
    const path = checkLaunchCgroup(this.mount, cgroupPath);
    if (!path) {
      throw new LaunchControlError(grpc.status.INVALID_ARGUMENT,
        `${JSON.stringify(cgroupPath)} is not a launch cgroup (a directory under ${join(this.mount, 'agent-sensor')})`);
    }
    return path;
  }
}
