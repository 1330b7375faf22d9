// The parts of `sensor collect` that need no kernel: the tar writer (read
// back by our reader and by the system tar), `collect --check` verdicts,
// /proc/PID/stat parsing with a hostile comm, the built-in credential list.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { credentialClass } from '../collector/query/credential-paths.js';
import { checkBundle } from '../sensor/response/bundle-check.js';
import { BUNDLE_FORMAT } from '../sensor/response/evidence-bundle.js';
import { parseStat } from '../sensor/response/proc-table.js';
import { readTar, TarFormatError, writeTar, type TarEntry } from '../sensor/response/tar-archive.js';

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

function bundle(items: TarEntry[], tweak?: (entries: TarEntry[]) => TarEntry[]): Buffer {
  const manifest = {
    format: BUNDLE_FORMAT, createdAt: '2026-12-06T00:00:00.000Z', host: 'h', agentPid: 42, agent: 'a', stateDir: null,
    items: items.map((e) => ({ name: e.name, bytes: e.data.length, sha256: sha256(e.data) })),
  };
  const entries = [...items, { name: 'manifest.json', data: Buffer.from(JSON.stringify(manifest)) }];
  return gzipSync(writeTar(tweak ? tweak(entries) : entries));
}

describe('evidence bundle format', () => {
  const items: TarEntry[] = [
    { name: 'events.jsonl', data: Buffer.from('{"type":"exec"}\n') },
    { name: 'files/0001-x', data: Buffer.alloc(1500, 7) }, // more than two blocks, not a multiple of 512
    { name: 'empty.json', data: Buffer.alloc(0) },
  ];

  it('writes ustar that our reader and the system tar read back byte for byte', () => {
    const tar = writeTar(items);
    expect(tar.length % 512).toBe(0);
    expect(readTar(tar).map((e) => [e.name, sha256(e.data)])).toEqual(items.map((e) => [e.name, sha256(e.data)]));
    const dir = mkdtempSync(join(tmpdir(), 'tar-test-'));
    try {
      writeFileSync(join(dir, 'b.tar'), tar);
      expect(execFileSync('tar', ['tf', join(dir, 'b.tar')], { encoding: 'utf8' }).split('\n').filter(Boolean)).toEqual(items.map((e) => e.name));
      expect(execFileSync('tar', ['xOf', join(dir, 'b.tar'), 'files/0001-x']).equals(items[1]!.data)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses names it cannot write plainly and archives cut short', () => {
    expect(() => writeTar([{ name: 'a\nb', data: Buffer.alloc(1) }])).toThrow(/not usable/);
    expect(() => writeTar([{ name: 'x'.repeat(101), data: Buffer.alloc(1) }])).toThrow(/not usable/);
    const tar = writeTar(items);
    expect(() => readTar(tar.subarray(0, 1024))).toThrow(TarFormatError);
    const bad = Buffer.from(tar);
    bad[10] = 0x41; // inside the first name: checksum no longer holds
    expect(() => readTar(bad)).toThrow(/checksum/);
  });

  it('check: 0 when every item matches, 1 altered/missing/extra, 2 not a bundle', () => {
    expect(checkBundle(bundle(items)).exitCode).toBe(0);
    const altered = checkBundle(bundle(items, (es) => es.map((e) => (e.name === 'events.jsonl' ? { ...e, data: Buffer.from('{"type":"exit"}\n') } : e))));
    expect(altered.exitCode).toBe(1);
    expect(altered.lines.join('\n')).toContain('ALTERED events.jsonl');
    const missing = checkBundle(bundle(items, (es) => es.filter((e) => e.name !== 'empty.json')));
    expect(missing).toMatchObject({ exitCode: 1, lines: ['MISSING empty.json'] });
    const extra = checkBundle(bundle(items, (es) => [...es, { name: 'planted', data: Buffer.from('x') }]));
    expect(extra).toMatchObject({ exitCode: 1, lines: ['EXTRA planted (not in the manifest)'] });
    expect(checkBundle(Buffer.from('not gzip')).exitCode).toBe(2);
    expect(checkBundle(gzipSync(writeTar(items))).exitCode).toBe(2); // no manifest
  });

  it('parses /proc/PID/stat whatever the comm holds', () => {
    const stat = '1234 (a) (b c) S 99 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 5555 1000 100';
    expect(parseStat(1234, stat)).toEqual({ pid: 1234, ppid: 99, startTicks: 5555 });
    expect(parseStat(1, 'garbage')).toBeNull();
  });

  it('names credential paths from the built-in list and nothing else', () => {
    expect(credentialClass('/home/u/.ssh/id_ed25519')?.kind).toBe('ssh-private-key');
    expect(credentialClass('/root/.aws/credentials')?.kind).toBe('aws-credentials');
    expect(credentialClass('/work/proj/.env')?.kind).toBe('dotenv');
    expect(credentialClass('/work/proj/.env.local')?.kind).toBe('dotenv');
    expect(credentialClass('/home/u/.ssh/known_hosts')).toBeNull();
    expect(credentialClass('/work/proj/src/env.ts')).toBeNull();
  });
});
