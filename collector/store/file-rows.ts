// The store's side of hashing: the `files` table as a cache keyed by file
// version, and the link from the opens of a batch to the file row they read
// (file_links: one row per batch and path, see schema.ts).
// Written after the batch committed, so file rows are not part of the hash
// chain (they are derived: the content can be hashed again).
import type Database from 'better-sqlite3';
import type { FileHashResult, FileIdentity } from '../hashing/file-hasher.js';
import type { HashJob, HashSink } from '../hashing/hash-queue.js';
import type { StringWriter } from './interning.js';

// dev and ino are u64 in the kernel; SQLite integers are i64.
const i64 = (v: bigint): bigint => BigInt.asIntN(64, v);

export class FileRows implements HashSink {
  private readonly findVersion: Database.Statement;
  private readonly findStateless: Database.Statement;
  private readonly insert: Database.Statement;
  private readonly link: Database.Statement;
  private readonly batchOf: Database.Statement;
  private readonly stampFile: Database.Statement;
  private readonly stampString: Database.Statement;
  private readonly recordTx: (job: HashJob, result: FileHashResult) => void;
  private readonly linkTx: (job: HashJob, fileId: bigint) => void;

  constructor(db: Database.Database, private readonly strings: StringWriter) {
    this.findVersion = db.prepare(
      `SELECT id FROM files WHERE dev = ? AND ino = ? AND size = ? AND mtime_ns = ? AND ctime_ns = ?
         AND state IN ('hashed', 'partial') LIMIT 1`,
    ).safeIntegers(true);
    this.findStateless = db.prepare(
      'SELECT id FROM files WHERE path_sid = ? AND state = ? AND sha256 IS NULL LIMIT 1',
    ).safeIntegers(true);
    this.insert = db.prepare(
      `INSERT INTO files (path_sid, dev, ino, size, mtime_ns, ctime_ns, sha256, state, hashed_at, last_batch)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)`,
    );
    this.link = db.prepare('INSERT OR REPLACE INTO file_links (batch_id, path_sid, file_id) VALUES (?, ?, ?)');
    this.batchOf = db.prepare('SELECT batch_id, path_sid FROM events WHERE id = ?').safeIntegers(true);
    // Retention sweeps a file row (and its path string) once the newest event linked to it is pruned.
    this.stampFile = db.prepare('UPDATE files SET last_batch = max(last_batch, ?) WHERE id = ? RETURNING path_sid');
    this.stampString = db.prepare('UPDATE strings SET last_batch = max(last_batch, ?) WHERE id = ?');
    this.linkTx = db.transaction((job: HashJob, fileId: bigint) => {
      const batch = this.batchOf.get(job.eventId) as { batch_id: bigint; path_sid: bigint } | undefined;
      if (!batch) return; // pruned while it waited
      this.link.run(batch.batch_id, batch.path_sid, fileId); // for every open of this path in the batch
      const row = this.stampFile.get(batch.batch_id, fileId) as { path_sid: number } | undefined;
      if (row) this.stampString.run(batch.batch_id, row.path_sid);
    });
    const tx = db.transaction((job: HashJob, result: FileHashResult) => {
      if (!this.batchOf.get(job.eventId)) return;
      this.linkTx(job, this.fileRowFor(job, result));
    });
    this.recordTx = (job, result) => {
      try {
        tx(job, result);
      } catch (err) {
        this.strings.forget(); // ids created in the rolled back transaction are gone
        throw err;
      }
    };
  }

  cached(id: FileIdentity): bigint | null {
    const row = this.findVersion.get(i64(id.dev), i64(id.ino), id.size, id.mtimeNs, id.ctimeNs) as { id: bigint } | undefined;
    return row ? row.id : null;
  }

  linkCached(job: HashJob, fileId: bigint): void {
    this.linkTx(job, fileId);
  }

  record(job: HashJob, result: FileHashResult): void {
    this.recordTx(job, result);
  }

  private fileRowFor(job: HashJob, r: FileHashResult): bigint {
    const pathSid = this.strings.id(job.path, false); // stamped with the event's batch by linkTx
    if (!r.sha256) {
      // No content: one row per (path, state) is enough to answer "what happened".
      const row = this.findStateless.get(pathSid, r.state) as { id: bigint } | undefined;
      if (row) return row.id;
    }
    const i = r.identity;
    return BigInt(this.insert.run(
      pathSid, i ? i64(i.dev) : null, i ? i64(i.ino) : null, i?.size ?? null, i?.mtimeNs ?? null, i?.ctimeNs ?? null,
      r.sha256 ?? null, r.state, Date.now(),
    ).lastInsertRowid);
  }
}
