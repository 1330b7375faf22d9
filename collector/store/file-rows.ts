// The store's side of hashing: the `files` table as a cache keyed by file
// version, and the link from the opens of a batch to the file row they read
// (file_links: one row per batch and path, see schema.ts).
// Written after the batch committed; each link goes under the chain as a
// chained row of kind 'file_link' (chained-rows.ts) whose content is the
// link, the file row it names and the hash of the batch it belongs to.
import type Database from 'better-sqlite3';
import type { FileHashResult, FileIdentity } from '../hashing/file-hasher.js';
import type { HashJob, HashSink, HashWrite } from '../hashing/hash-queue.js';
import { canonicalValues } from './canonical.js';
import type { ChainedKind, ChainedRowWriter } from './chained-rows.js';
import type { StringWriter } from './interning.js';
import { DlpRows, dlpClasses, type DlpOptions, type StoredDlp } from './dlp-rows.js';

/** A hash job's outcome, for the detection engine's content feed (after its transaction committed). */
export interface ContentResult {
  /** the open event the job named (the batch's first open of the path) */
  eventId: bigint;
  fileId: bigint;
  state: string;
  sha256: string | null;
  /** DLP classes of the content, its own findings and known secrets it holds */
  dlpClasses: string[];
  /** the stored findings and matches (no secret), when any */
  dlp: StoredDlp | null;
}

export const FILE_LINK = 'file_link';

const contentStatements = new WeakMap<Database.Database, { content: Database.Statement; count: Database.Statement }>();

function statementsFor(db: Database.Database) {
  let s = contentStatements.get(db);
  if (!s) {
    s = {
      content: db.prepare(
        `SELECT b.hash AS batch_hash, p.bytes AS path, f.id, fp.bytes AS file_path, f.dev, f.ino, f.size, f.mtime_ns,
                f.ctime_ns, f.sha256, f.state, f.hashed_at, f.hash_source, d.body AS dlp
           FROM file_links l JOIN batches b ON b.id = l.batch_id JOIN strings p ON p.id = l.path_sid
           JOIN files f ON f.id = l.file_id JOIN strings fp ON fp.id = f.path_sid
           LEFT JOIN file_dlp d ON d.file_id = f.id
          WHERE l.batch_id = ? AND l.path_sid = ?`,
      ).safeIntegers(true),
      count: db.prepare('SELECT count(*) FROM file_links WHERE batch_id > ?').pluck().safeIntegers(true),
    };
    contentStatements.set(db, s);
  }
  return s;
}

type Value = bigint | Buffer | string | null;

/** The canonical bytes of one file link as stored (the write and verify both call this). */
export function fileLinkContent(db: Database.Database, batchId: bigint, pathSid: bigint): Buffer | null {
  const r = statementsFor(db).content.get(batchId, pathSid) as Record<string, Value> | undefined;
  if (!r) return null;
  return canonicalValues([
    FILE_LINK, batchId, r.batch_hash!, r.path!, r.id!, r.file_path!, r.dev!, r.ino!, r.size!, r.mtime_ns!, r.ctime_ns!,
    r.sha256!, r.state!, r.hashed_at!, r.hash_source!,
    // DLP findings only where there are some: links written before DLP keep their digests
    ...(r.dlp !== null && r.dlp !== undefined ? [r.dlp] : []),
  ]);
}

export const FILE_LINK_KIND: ChainedKind = {
  contentOf: fileLinkContent,
  countAfter: (db, batchId) => statementsFor(db).count.get(batchId) as bigint,
};

// dev and ino are u64 in the kernel; SQLite integers are i64.
const i64 = (v: bigint): bigint => BigInt.asIntN(64, v);

export class FileRows implements HashSink {
  private readonly findVersion: Database.Statement;
  private readonly findStateless: Database.Statement;
  private readonly insert: Database.Statement;
  private readonly link: Database.Statement;
  private readonly linked: Database.Statement;
  private readonly batchOf: Database.Statement;
  private readonly fileInfo: Database.Statement;
  private readonly stampFile: Database.Statement;
  private readonly stampString: Database.Statement;
  private readonly recordTx: (job: HashJob, result: FileHashResult, dlp: StoredDlp | null) => bigint | null;
  private readonly linkTx: (job: HashJob, fileId: bigint) => boolean;
  private readonly groupTx: (writes: HashWrite[]) => ({ content: ContentResult | null; fresh: boolean } | null)[];
  private readonly dlp?: DlpRows;

  constructor(
    private readonly db: Database.Database,
    private readonly strings: StringWriter,
    private readonly chain: ChainedRowWriter,
    dlp?: DlpOptions & { key: Buffer },
    private readonly onContent?: (r: ContentResult) => void,
  ) {
    if (dlp) this.dlp = new DlpRows(db, dlp.key, dlp);
    this.findVersion = db.prepare(
      `SELECT id FROM files WHERE dev = ? AND ino = ? AND size = ? AND mtime_ns = ? AND ctime_ns = ?
         AND state IN ('hashed', 'partial') LIMIT 1`,
    ).safeIntegers(true);
    this.findStateless = db.prepare(
      'SELECT id FROM files WHERE path_sid = ? AND state = ? AND sha256 IS NULL AND hash_source IS ? LIMIT 1',
    ).safeIntegers(true);
    this.insert = db.prepare(
      `INSERT INTO files (path_sid, dev, ino, size, mtime_ns, ctime_ns, sha256, state, hashed_at, hash_source, last_batch)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)`,
    );
    // A link once written is evidence: never replaced (a second job for the same batch and path is ignored).
    this.link = db.prepare('INSERT INTO file_links (batch_id, path_sid, file_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING');
    this.linked = db.prepare('SELECT 1 FROM file_links WHERE batch_id = ? AND path_sid = ?');
    this.batchOf = db.prepare('SELECT batch_id, path_sid FROM events WHERE id = ?').safeIntegers(true);
    this.fileInfo = db.prepare('SELECT sha256, state FROM files WHERE id = ?');
    // Retention sweeps a file row (and its path string) once the newest event linked to it is pruned.
    this.stampFile = db.prepare('UPDATE files SET last_batch = max(last_batch, ?) WHERE id = ? RETURNING path_sid');
    this.stampString = db.prepare('UPDATE strings SET last_batch = max(last_batch, ?) WHERE id = ?');
    const linkIn = (job: HashJob, fileId: bigint): boolean => {
      const batch = this.batchOf.get(job.eventId) as { batch_id: bigint; path_sid: bigint } | undefined;
      if (!batch) return false; // pruned while it waited
      if (this.linked.get(batch.batch_id, batch.path_sid)) return false;
      this.link.run(batch.batch_id, batch.path_sid, fileId); // for every open of this path in the batch
      const row = this.stampFile.get(batch.batch_id, fileId) as { path_sid: number } | undefined;
      if (row) this.stampString.run(batch.batch_id, row.path_sid);
      const content = fileLinkContent(this.db, batch.batch_id, batch.path_sid);
      if (!content) throw new Error('a file link just written cannot be read back');
      this.chain.append(FILE_LINK, batch.batch_id, batch.path_sid, content);
      return true;
    };
    const recordIn = (job: HashJob, result: FileHashResult, found: StoredDlp | null): bigint | null => {
      if (!this.batchOf.get(job.eventId)) return null;
      const fileId = this.fileRowFor(job, result);
      if (found) this.dlp!.write(fileId, found); // before the link: its chained content covers the findings
      return linkIn(job, fileId) ? fileId : null;
    };
    const linkTx = db.transaction(linkIn);
    const tx = db.transaction(recordIn);
    // One transaction for a group of results (hash-queue.ts); what each adds is decided as before.
    this.groupTx = rollingBack(db.transaction((writes: HashWrite[]) => writes.map((w) => {
      if ('fileId' in w) return linkIn(w.job, w.fileId) ? { content: this.cachedContent(w.job, w.fileId), fresh: false } : null;
      const found = this.found.get(w) ?? null;
      const fileId = recordIn(w.job, w.result, found);
      return fileId === null ? null : { content: this.resultContent(w.job, fileId, w.result, found), fresh: true };
    })));
    function rollingBack<A extends unknown[], R>(this: void, fn: (...a: A) => R): (...a: A) => R {
      return (...a: A): R => {
        try {
          return fn(...a);
        } catch (err) {
          strings.forget(); // ids created in the rolled back transaction are gone
          chain.reload(); // and so is any chained row it appended
          throw err;
        }
      };
    }
    this.recordTx = rollingBack(tx);
    this.linkTx = rollingBack(linkTx);
  }

  cached(id: FileIdentity): bigint | null {
    const row = this.findVersion.get(i64(id.dev), i64(id.ino), id.size, id.mtimeNs, id.ctimeNs) as { id: bigint } | undefined;
    return row ? row.id : null;
  }

  linkCached(job: HashJob, fileId: bigint): void {
    if (this.linkTx(job, fileId)) this.emit(this.cachedContent(job, fileId));
  }

  record(job: HashJob, result: FileHashResult): void {
    const found = this.scanHead(result);
    const fileId = this.recordTx(job, result, found);
    if (fileId !== null) this.emit(this.indexed(this.resultContent(job, fileId, result, found)));
  }

  /** DLP findings of results waiting for their group (the scan ran when the result came) */
  private readonly found = new WeakMap<HashWrite, StoredDlp>();

  prepare(w: HashWrite): HashWrite {
    if ('result' in w) {
      const found = this.scanHead(w.result);
      if (found) this.found.set(w, found);
    }
    return w;
  }

  writeGroup(writes: HashWrite[]): number {
    let results: ({ content: ContentResult | null; fresh: boolean } | null)[];
    try {
      results = this.groupTx(writes);
    } catch {
      // One bad write must not take the others with it: each alone, and count those that fail.
      let failed = 0;
      for (const w of writes) {
        try {
          if ('fileId' in w) this.linkCached(w.job, w.fileId);
          else {
            const fileId = this.recordTx(w.job, w.result, this.found.get(w) ?? null);
            if (fileId !== null) this.emit(this.indexed(this.resultContent(w.job, fileId, w.result, this.found.get(w) ?? null)));
          }
        } catch {
          failed++;
        }
      }
      return failed;
    }
    for (const r of results) if (r) this.emit(r.fresh ? this.indexed(r.content!) : r.content);
    return 0;
  }

  /** After its transaction committed: the secrets a new result holds are known from now on. */
  private indexed(r: ContentResult): ContentResult {
    if (r.dlp) this.dlp!.indexBody(r.fileId, r.dlp);
    return r;
  }

  private scanHead(result: FileHashResult): StoredDlp | null {
    let found: StoredDlp | null = null;
    if (this.dlp && result.head && (result.state === 'hashed' || result.state === 'partial')) {
      found = this.dlp.scan(result.head); // CPU, before the transaction: the writer is not held for it
    }
    delete result.head; // the content never goes further than the scan
    return found;
  }

  /** the same file version read again: its stored findings speak for it */
  private cachedContent(job: HashJob, fileId: bigint): ContentResult | null {
    if (!this.onContent) return null;
    const row = this.fileInfo.get(fileId) as { sha256: Buffer | null; state: string } | undefined;
    const stored = this.dlp?.stored(fileId) ?? null;
    return { eventId: job.eventId, fileId, state: row?.state ?? 'hashed', sha256: row?.sha256 ? row.sha256.toString('hex') : null, dlpClasses: dlpClasses(stored), dlp: stored };
  }

  private resultContent(job: HashJob, fileId: bigint, result: FileHashResult, found: StoredDlp | null): ContentResult {
    return { eventId: job.eventId, fileId, state: result.state, sha256: result.sha256 ? result.sha256.toString('hex') : null, dlpClasses: dlpClasses(found), dlp: found };
  }

  private emit(r: ContentResult | null): void {
    if (!r) return;
    try {
      this.onContent?.(r);
    } catch {
      // the listener only queues; a failure there must not undo a stored hash
    }
  }

  private fileRowFor(job: HashJob, r: FileHashResult): bigint {
    const pathSid = this.strings.id(job.path, false); // stamped with the event's batch by linkTx
    if (!r.sha256) {
      // No content: one row per (path, state, source) is enough to answer "what happened".
      const row = this.findStateless.get(pathSid, r.state, r.source ?? null) as { id: bigint } | undefined;
      if (row) return row.id;
    }
    const i = r.identity;
    return BigInt(this.insert.run(
      pathSid, i ? i64(i.dev) : null, i ? i64(i.ino) : null, i?.size ?? null, i?.mtimeNs ?? null, i?.ctimeNs ?? null,
      r.sha256 ?? null, r.state, r.hashedAt ?? Date.now(), r.source ?? null,
    ).lastInsertRowid);
  }
}
