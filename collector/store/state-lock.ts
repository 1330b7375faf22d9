// One writer per state directory. Two collectors committing into one store
// would each extend the chain from the head they remember and make verify
// report tampering that never happened; the second one must refuse to start.
//
// The lock is a kernel lock, not a pid file: SQLite's exclusive lock
// (fcntl byte-range locks) on `collector.lock`, held by an open transaction
// until the store closes or the process dies, so a crash never leaves a stale
// lock behind. It also holds between threads of one process (SQLite shares
// its lock state per file within a process). The holder writes its pid next
// to it (`collector.pid`) only so that the refusal can name it.
import Database from 'better-sqlite3';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const LOCK_FILE_NAME = 'collector.lock';
export const PID_FILE_NAME = 'collector.pid';

export class StateDirInUseError extends Error {
  override name = 'StateDirInUseError';
}

export class StateDirLock {
  private constructor(private readonly db: Database.Database) {}

  static acquire(stateDir: string): StateDirLock {
    const path = join(stateDir, LOCK_FILE_NAME);
    const db = new Database(path, { timeout: 0 });
    try {
      chmodSync(path, 0o600);
      db.exec('BEGIN EXCLUSIVE');
    } catch (err) {
      db.close();
      if ((err as { code?: string }).code !== 'SQLITE_BUSY') throw err;
      let holder = 'another process';
      try {
        const pid = readFileSync(join(stateDir, PID_FILE_NAME), 'utf8').trim();
        if (/^\d+$/.test(pid)) holder = `process ${pid}`;
      } catch {
        // no pid file yet: the holder is still starting
      }
      throw new StateDirInUseError(
        `the state directory ${stateDir} is in use by ${holder} (another sensor run or sensor collector); ` +
        'stop it or choose another --state-dir');
    }
    writeFileSync(join(stateDir, PID_FILE_NAME), `${process.pid}\n`, { mode: 0o600 });
    return new StateDirLock(db);
  }

  release(): void {
    if (this.db.open) this.db.close(); // ends the transaction: the lock goes with it
  }
}
