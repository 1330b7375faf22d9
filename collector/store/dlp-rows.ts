// The store's side of content DLP (collector/dlp): the per-store fingerprint
// key, the scan of a file row's first bytes, its findings row (file_dlp:
// classes, counts, offsets, keyed fingerprints and matches to secrets seen
// before; never a secret), and the FingerprintIndex of every stored secret,
// loaded at start so the same secret is recognised again in a renamed copy,
// a file it was pasted into, or its base64/hex.
import { randomBytes } from 'node:crypto';
import { closeSync, constants as C, existsSync, fstatSync, fsyncSync, linkSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { FingerprintIndex, scanContent, type DlpFinding, type SecretFingerprint } from '../dlp/index.js';

export const FINGERPRINT_KEY_FILE = 'dlp-fingerprint.key';
/** bytes of each file scanned: a bounded cost per file (~25 ms per 256 KiB on a loaded core) */
export const DEFAULT_SCAN_BYTES = 256 * 1024;
const KEY_BYTES = 32;

export interface DlpOptions {
  /** the fingerprint key (default: the state directory's, created once) */
  key?: Buffer;
  /** bytes of each file's start scanned (default 256 KiB) */
  maxBytes?: number;
}

/**
 * The store's fingerprint key: 32 random bytes in <stateDir>/dlp-fingerprint.key
 * (0600), created once (O_EXCL: two writers cannot make two keys). Kept out
 * of the database so no copy or export of the store carries it.
 */
export function loadFingerprintKey(stateDir: string): Buffer {
  const path = join(stateDir, FINGERPRINT_KEY_FILE);
  if (!existsSync(path)) {
    // Written whole under a temporary name, then linked into place: a collector
    // killed half way never leaves a short key, and of two writers one wins.
    const tmp = `${path}.${process.pid}.tmp`;
    rmSync(tmp, { force: true });
    const fd = openSync(tmp, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
    try {
      writeSync(fd, randomBytes(KEY_BYTES));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(tmp, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      rmSync(tmp, { force: true });
    }
  }
  const fd = openSync(path, C.O_RDONLY | C.O_NOFOLLOW);
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || (st.mode & 0o077) !== 0) throw new Error(`${path}: the fingerprint key must be a regular file of mode 0600`);
    const key = readFileSync(fd);
    if (key.length !== KEY_BYTES) throw new Error(`${path}: the fingerprint key must be ${KEY_BYTES} bytes (it has ${key.length})`);
    return key;
  } finally {
    closeSync(fd);
  }
}

/** A known secret the content holds: where it was first found. */
export interface StoredMatch {
  class: string;
  /** the file row the secret was first found in */
  fileId: number;
  path: string;
  via: 'exact' | 'shingles';
  form: string;
}

/** What file_dlp.body holds. */
export interface StoredDlp {
  findings: (Omit<DlpFinding, 'fingerprints'> & { fingerprints: SecretFingerprint[] })[];
  matches: StoredMatch[];
  scannedBytes: number;
  truncated: boolean;
}

/** A scan before it is written: the body, and the new fingerprints to index once written. */
export interface PendingDlp {
  body: StoredDlp;
}

export class DlpRows {
  readonly index = new FingerprintIndex();
  private readonly insert: Database.Statement;
  private readonly read: Database.Statement;
  private readonly pathOf: Database.Statement;
  private readonly maxBytes: number;

  constructor(db: Database.Database, private readonly key: Buffer, opts: { maxBytes?: number } = {}) {
    this.maxBytes = opts.maxBytes ?? DEFAULT_SCAN_BYTES;
    this.insert = db.prepare('INSERT OR REPLACE INTO file_dlp (file_id, body) VALUES (?, ?)');
    this.read = db.prepare('SELECT body FROM file_dlp WHERE file_id = ?').pluck();
    this.pathOf = db.prepare('SELECT s.bytes FROM files f JOIN strings s ON s.id = f.path_sid WHERE f.id = ?').pluck();
    for (const r of db.prepare('SELECT file_id, body FROM file_dlp ORDER BY file_id').iterate() as IterableIterator<{ file_id: number; body: string }>) {
      try {
        this.indexBody(r.file_id, JSON.parse(r.body) as StoredDlp);
      } catch {
        // a row that does not parse is reported by verify (its digest), not here
      }
    }
  }

  /** Scans the content's first bytes; null when it holds no secret and no known one. */
  scan(head: Buffer): StoredDlp | null {
    const scan = scanContent(head, this.key, { maxBytes: this.maxBytes, shingles: this.index.hasShingles });
    const matches: StoredMatch[] = [];
    for (const m of this.index.match(scan.probe)) {
      const [fileId, cls] = splitRef(m.ref);
      const p = this.pathOf.get(fileId) as Buffer | undefined;
      matches.push({ class: cls, fileId, path: p ? p.toString('utf8') : '', via: m.via, form: m.form });
    }
    if (scan.findings.length === 0 && matches.length === 0) return null;
    return { findings: scan.findings, matches, scannedBytes: scan.scannedBytes, truncated: scan.truncated };
  }

  /** Inside the transaction that wrote the file row. */
  write(fileId: bigint, body: StoredDlp): void {
    this.insert.run(fileId, JSON.stringify(body));
  }

  /** After that transaction committed: its secrets are known from now on. */
  indexBody(fileId: number | bigint, body: StoredDlp): void {
    // Matches of already known secrets add nothing new; a finding whose
    // fingerprint is known already is indexed once (first file wins).
    const known = new Set(body.matches.map((m) => m.class));
    for (const f of body.findings) {
      for (const fp of f.fingerprints) {
        if (known.has(f.class) && this.index.match({ exact: new Set([fp.exact[0]?.hash ?? '']), shingles: new Set() }).length > 0) continue;
        this.index.add(`${fileId}:${f.class}`, fp);
      }
    }
  }

  stored(fileId: bigint): StoredDlp | null {
    const body = this.read.get(fileId) as string | undefined;
    if (!body) return null;
    try {
      return JSON.parse(body) as StoredDlp;
    } catch {
      return null;
    }
  }
}

function splitRef(ref: string): [number, string] {
  const colon = ref.indexOf(':');
  return [Number(ref.slice(0, colon)), ref.slice(colon + 1)];
}

/** The classes a stored scan names: its findings' and its matches' (a copy of a key is that key). */
export function dlpClasses(body: StoredDlp | null): string[] {
  if (!body) return [];
  return [...new Set([...body.findings.map((f) => f.class), ...body.matches.map((m) => m.class)])];
}
