// WAL checkpoints on a connection of their own. By default SQLite
// checkpoints inside the commit that crosses 1000 WAL pages, so the writer
// pays for copying pages back into the database file: measured ~1.8 us per
// event of the ~12 a commit costs. When the writer runs on the store worker
// (collector/server/store-worker.ts) with auto-checkpoints off, this runs
// PASSIVE checkpoints from the collector's main thread, which has CPU to
// spare: they never wait for the writer nor block it. Nothing depends on
// them for safety: committed data is in the WAL either way (a crash replays
// it); what bounds the WAL's size is WalBound below, on the writer.
import Database from 'better-sqlite3';
import { statSync } from 'node:fs';

/**
 * A second: a page rewritten by many commits in that time is copied back
 * once, and an idle sensor runs ten checkpoints less a second (each one an
 * fsync of the database and ~1.6 ms of the main thread during an agent
 * session, which the agent's session paid for on a 2-core machine).
 */
export const CHECKPOINT_INTERVAL_MS = 1000;

export class WalCheckpointer {
  private readonly db: Database.Database;
  private readonly timer: NodeJS.Timeout;
  private closed = false;
  failures = 0;

  constructor(path: string, intervalMs = CHECKPOINT_INTERVAL_MS) {
    this.db = new Database(path, { fileMustExist: true });
    this.db.pragma('busy_timeout = 0');
    this.timer = setInterval(() => this.checkpoint(), intervalMs);
    this.timer.unref();
  }

  checkpoint(): void {
    if (this.closed) return;
    try {
      this.db.pragma('wal_checkpoint(PASSIVE)');
    } catch {
      this.failures++; // busy or a full disk: the next tick tries again
    }
  }

  /** Close after every other connection: the last one to close checkpoints fully and removes the WAL. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.db.close();
  }
}

export const DEFAULT_WAL_LIMIT_BYTES = 64 * 1024 * 1024;

/**
 * The writer's side. With commits back to back, PASSIVE checkpoints copy
 * pages but the WAL is never reset to its start, so it grows without bound
 * (11.9 GB in 90 s was measured). After each commit the writer looks at the
 * WAL's size (a stat, ~2 us: one commit can add megabytes); past the limit
 * it checkpoints with TRUNCATE itself, between two commits: it waits
 * (busy_timeout) for readers to leave the WAL, copies it back and truncates
 * it. Ingest pauses for that one checkpoint.
 */
export class WalBound {
  private readonly walPath: string;

  constructor(private readonly db: Database.Database, dbPath: string, private readonly limitBytes = DEFAULT_WAL_LIMIT_BYTES) {
    this.walPath = `${dbPath}-wal`;
  }

  /** True when it truncated the WAL. */
  afterCommit(): boolean {
    let size: number;
    try {
      size = statSync(this.walPath).size;
    } catch {
      return false;
    }
    if (size <= this.limitBytes) return false;
    try {
      const [r] = this.db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
      return r?.busy === 0; // busy: readers stayed past busy_timeout; the next commit tries again
    } catch {
      return false; // busy or a full disk: the next commit tries again
    }
  }
}
