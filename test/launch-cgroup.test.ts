// The cgroup half of `sensor launch` without a running sensor: finding the v2
// hierarchy in mountinfo, and what the sensor side accepts. The registry runs
// on the real cgroup file system (root) with a recording stand-in for the
// Sensor, which is not under test here (launch-e2e.test.ts runs the real one).
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import {
  cgroup2Mount, cgroup2MountFrom, cgroupPopulated, checkLaunchCgroup, launchParent, makeLaunchCgroup, removeCgroup,
} from '../sensor/launch/cgroup-v2.js';
import { LaunchRegistry, type CgroupWatcher } from '../sensor/launch/launch-registry.js';

const HYBRID = [
  '25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw',
  '31 25 0:27 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755',
  '32 31 0:28 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate',
  '33 31 0:29 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd',
].join('\n');

describe('cgroup v2 hierarchy from mountinfo', () => {
  it('finds it wherever it is mounted, with escaped mount points, and skips bind mounts of a sub-cgroup', () => {
    expect(cgroup2MountFrom(HYBRID)).toBe('/sys/fs/cgroup/unified');
    expect(cgroup2MountFrom('30 1 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw')).toBe('/sys/fs/cgroup');
    expect(cgroup2MountFrom('40 1 0:26 / /mnt/my\\040cgroups rw - cgroup2 none rw')).toBe('/mnt/my cgroups');
    expect(cgroup2MountFrom('41 1 0:26 /user.slice /sys/fs/cgroup rw - cgroup2 cgroup2 rw')).toBeNull();
    expect(cgroup2MountFrom([HYBRID.split('\n')[0], HYBRID.split('\n')[3]].join('\n'))).toBeNull();
  });
});

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('launch-cgroup: registry tests skipped: need root to make cgroups');

describe.skipIf(!isRoot)('the sensor side of launch (real cgroup file system)', () => {
  const made: string[] = [];
  const tmp = mkdtempSync(join(tmpdir(), 'launch-cgroup-'));
  afterAll(() => {
    for (const p of made) removeCgroup(p);
    rmSync(tmp, { recursive: true, force: true });
  });
  const calls: string[] = [];
  const watcher: CgroupWatcher = {
    watchCgroup: async (name, id) => {
      calls.push(`watch ${name} ${id}`);
      return { agentId: 1, configured: name === 'configured-one' };
    },
    removeCgroupAgent: (id) => void calls.push(`remove ${id}`),
  };
  const registry = new LaunchRegistry(pino({ level: 'silent' }));

  it('refuses calls until the sensor is attached, then refuses anything but an empty launch leaf', async () => {
    const leaf = makeLaunchCgroup(cgroup2Mount(), 'unit-agent');
    made.push(leaf.path);
    await expect(registry.register('unit-agent', leaf.path)).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    registry.attach(watcher);
    const mount = cgroup2Mount();
    const outside = join(tmp, 'not-a-cgroup');
    mkdirSync(outside);
    const missing = join(launchParent(mount), 'never-made-0-00000000');
    const viaLink = join(tmp, 'link'); // cgroupfs has no symlinks: a link elsewhere that resolves to the mount
    symlinkSync(mount, viaLink);
    for (const bad of [outside, launchParent(mount), mount, join(leaf.path, 'deeper'), missing, viaLink, '', 'relative/path']) {
      await expect(registry.register('unit-agent', bad), bad).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    }
    expect(checkLaunchCgroup(mount, leaf.path)).toBe(leaf.path);
    await expect(registry.register('bad name', leaf.path)).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    expect(calls).toEqual([]);
  });

  it('registers an empty leaf once, and ending it while empty removes it and its rule', async () => {
    const leaf = makeLaunchCgroup(cgroup2Mount(), 'configured-one');
    made.push(leaf.path);
    expect(await registry.register('configured-one', leaf.path)).toEqual({ cgroupId: String(leaf.id), configured: true });
    await expect(registry.register('configured-one', leaf.path)).rejects.toMatchObject({ code: grpc.status.ALREADY_EXISTS });
    expect(registry.size).toBe(1);
    expect(cgroupPopulated(leaf.path)).toBe(false);
    expect(await registry.end(leaf.path)).toBe(true);
    expect(registry.size).toBe(0);
    expect(calls).toEqual([`watch configured-one ${leaf.id}`, `remove ${leaf.id}`]);
    registry.close();
  });
});
