// The responses table (who isolated what, when and why) on real SQLite: its
// own hash chain catches a row edited, removed or the newest rows cut off,
// and each row names the batch chain's newest link when it was written.
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EventStore } from '../collector/store/event-store.js';
import { listResponses, recordResponse, verifyResponses } from '../collector/store/response-log.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function stateDirWithRows(n: number): string {
  const stateDir = join(mkdtempSync(join(tmpdir(), 'response-log-')), 'state');
  dirs.push(join(stateDir, '..'));
  for (let i = 0; i < n; i++) {
    recordResponse(stateDir, { action: i % 2 ? 'release' : 'isolate', agent: 'a', rootPid: 10 + i, actor: 'tester', reason: `r${i}`, details: { i } });
  }
  return stateDir;
}

const verdict = (stateDir: string) => {
  const db = new Database(join(stateDir, 'events.db'), { readonly: true });
  try { return verifyResponses(db); } finally { db.close(); }
};
const edit = (stateDir: string, sql: string) => {
  const db = new Database(join(stateDir, 'events.db'));
  try { db.exec(sql); } finally { db.close(); }
};

describe('responses chain', () => {
  it('records rows (creating the store when there is none) that verify', () => {
    const dir = stateDirWithRows(3);
    expect(verdict(dir)).toMatchObject({ ok: true, rows: 3 });
    const db = new Database(join(dir, 'events.db'), { readonly: true });
    try {
      expect(listResponses(db, 11).map((r) => [r.action, r.reason, r.details])).toEqual([['release', 'r1', { i: 1 }]]);
    } finally { db.close(); }
  });

  it('names an edited row, a removed middle row, and rows cut off the end', () => {
    const a = stateDirWithRows(3);
    edit(a, `UPDATE responses SET reason = 'nothing happened' WHERE id = 2`);
    expect(verdict(a)).toMatchObject({ ok: false, firstBad: 2 });
    const b = stateDirWithRows(3);
    edit(b, 'DELETE FROM responses WHERE id = 2');
    expect(verdict(b)).toMatchObject({ ok: false, firstBad: 3 });
    const c = stateDirWithRows(3);
    edit(c, 'DELETE FROM responses WHERE id = 3');
    expect(verdict(c).ok).toBe(false);
    expect(verdict(c).problem).toMatch(/cut off/);
    const d = stateDirWithRows(2);
    edit(d, 'DROP TABLE responses');
    expect(verdict(d)).toMatchObject({ ok: false, problem: expect.stringMatching(/gone/) });
  });

  it('ties each row to the newest batch link at the time', async () => {
    const stateDir = stateDirWithRows(1);
    const store = EventStore.open({ stateDir, hashing: { enabled: false } });
    store.commitBatch({ sensorId: 's', bootId: 'b', seq: 1n, events: [] });
    await store.close();
    recordResponse(stateDir, { action: 'release', agent: null, rootPid: 10, actor: 'tester', reason: null, details: {} });
    const db = new Database(join(stateDir, 'events.db'), { readonly: true });
    try {
      const rows = db.prepare('SELECT r.batch_id, r.batch_hash = b.hash AS same FROM responses r LEFT JOIN batches b ON b.id = r.batch_id ORDER BY r.id').all();
      expect(rows).toEqual([{ batch_id: null, same: null }, { batch_id: 1, same: 1 }]);
      expect(verifyResponses(db).ok).toBe(true);
    } finally { db.close(); }
  });
});
