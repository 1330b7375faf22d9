// WAL checkpoints on a connection of their own. By default SQLite
// checkpoints inside the commit that crosses 1000 WAL pages, so the writer
// pays for copying pages back into the database file: measured ~1.8 us per
// event of the ~12 a commit costs. When the writer runs on the store worker
// (collector/server/store-worker.ts) with auto-checkpoints off, this runs
// PASSIVE checkpoints from the collector's main thread, which has CPU to
// spare: they never wait for the writer nor block it. Nothing depends on
// them for safety: committed data is in the WAL either way (a crash replays
// it), and if they stop, the WAL only grows.
import Database from 'better-sqlite3';

export const CHECKPOINT_INTERVAL_MS = 100;

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
