// State and socket folders: created with their mode, parents included, and a
// path the kernel refuses (under /proc) fails at once instead of hanging.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeDirs } from '../collector/make-dirs.js';
import { EventStore } from '../collector/store/event-store.js';

describe('makeDirs', () => {
  it('creates missing parents with the mode and accepts an existing folder', () => {
    const base = mkdtempSync(join(tmpdir(), 'as-dirs-'));
    try {
      const deep = join(base, 'a', 'b', 'c');
      makeDirs(deep, 0o700);
      expect(statSync(deep).mode & 0o077).toBe(0);
      makeDirs(deep, 0o700); // again: nothing to do, no error
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });

  it('fails with ENOENT under /proc (where recursive mkdirSync never returns)', () => {
    expect(() => makeDirs('/proc/agent-sensor-test/x', 0o700)).toThrow(/ENOENT/);
    expect(() => EventStore.open({ stateDir: '/proc/agent-sensor-test' })).toThrow(/ENOENT/);
  });
});
