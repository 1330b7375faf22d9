// Secrets the agents READ, to tell a secret leaving that the agent read
// from a file it opened (the key it was never meant to send) from one found
// only in egress. For each file an agent opened for reading, the first
// MAX_READ_BYTES are read again and scanned with collector/dlp; the secrets'
// fingerprints go into a FingerprintIndex, the content is dropped.
//
// Read here, with the hasher's rule (collector/hashing/file-hasher.ts): the
// path resolved inside the opener's root (/proc/PID/root, same mount
// namespace), every directory searchable and the file readable by the
// opener's uid and gid under the mode bits, else not read — so the sensor
// never reads with more rights than the process that named the path. (It was
// a `head` child per file as the opener's uid: a fork of the whole sensor
// process on its main thread each time, issue 17.) One scan per file version
// (dev, inode, size, mtime, ctime): a version scanned before is in the index.
//
// Bounded: one look per path per REPEAT_MS, at most MAX_PER_MINUTE looks,
// MAX_RUNNING at once (the others queue, MAX_QUEUED at most); the rest is
// counted. System paths are skipped. The file may have changed since the
// agent read it: a miss then is a miss.
import { constants } from 'node:fs';
import { O_PATH, findReadableFile, isOpened, isReadable, openReadable } from '../../collector/hashing/file-hasher.js';
import { locate } from '../../collector/hashing/hash-location.js';
import { FingerprintIndex, scanContent, type ContentProbe } from '../../collector/dlp/index.js';
import { displayString, toBytes } from '../../proto/events/bytes.js';
import type { SensorEvent } from '../../proto/events/types.js';

export const MAX_READ_BYTES = 64 * 1024;
const REPEAT_MS = 60_000;
const MAX_PER_MINUTE = 120;
const MAX_RUNNING = 4;
const MAX_REMEMBERED = 4096;
const MAX_QUEUED = 256;
/** Kernel files and the system's programs and libraries: no one's secrets, and read by every process start. */
const SKIPPED = /^\/(?:proc|sys|dev|usr|lib|lib32|lib64|bin|sbin|snap)\/|^\/etc\/ld\.so\.cache$|\/node_modules\//;
/** Opens that read no content: a directory listed (O_DIRECTORY, this machine's value) or a bare O_PATH handle. */
const NO_CONTENT = constants.O_DIRECTORY | O_PATH;

export class ReadSecrets {
  private readonly fingerprints = new FingerprintIndex();
  private readonly lastLook = new Map<string, number>();
  /** fingerprint ids in the index */
  readonly known = new Set<string>();
  private running = 0;
  private readonly queue: Look[] = [];
  /** file versions scanned: their secrets are in the index */
  private readonly versions = new Set<string>();
  private minute = { start: 0, n: 0 };
  /** looks, of which failed (not readable as the opener, gone) and known (a version scanned before) */
  readonly stats = { looks: 0, skipped: 0, secrets: 0, failed: 0, known: 0 };

  constructor(private readonly key: Uint8Array) {}

  /** An agent's event: a successful read-open of a file is looked at (asynchronously). */
  note(ev: SensorEvent): void {
    if (ev.type !== 'open' || !ev.agent || ev.result < 0 || ev.access === 'write' || (ev.flags & NO_CONTENT)) return;
    const path = typeof ev.path === 'string' ? ev.path : displayString(ev.path);
    if (!path.startsWith('/') || SKIPPED.test(path)) return;
    const id = `${ev.uid}:${ev.gid}:${path}`;
    const now = Date.now();
    if ((this.lastLook.get(id) ?? -Infinity) > now - REPEAT_MS) return;
    if (now - this.minute.start > 60_000) this.minute = { start: now, n: 0 };
    if (this.minute.n >= MAX_PER_MINUTE) {
      this.stats.skipped++;
      return;
    }
    this.minute.n++;
    this.lastLook.set(id, now);
    if (this.lastLook.size > MAX_REMEMBERED) this.lastLook.delete(this.lastLook.keys().next().value!);
    if (this.queue.length >= MAX_QUEUED) {
      this.queue.shift();
      this.stats.skipped++;
    }
    this.queue.push({ path: toBytes(ev.path), pid: ev.pid, uid: ev.uid, gid: ev.gid, mntns: ev.mntns, since: performance.now() });
    this.next();
  }

  private next(): void {
    while (this.running < MAX_RUNNING && this.queue.length > 0) {
      this.look(this.queue.shift()!);
    }
  }

  /** Which of the read secrets a scan of egress holds (their fingerprint refs). */
  match(probe: ContentProbe): Set<string> {
    if (this.fingerprints.size === 0) return new Set();
    return new Set(this.fingerprints.match(probe).map((m) => m.ref));
  }

  get idle(): boolean {
    return this.running === 0 && this.queue.length === 0;
  }

  /** Resolves when no look is running (tests). */
  async settled(timeoutMs = 5000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!this.idle && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  }

  private look(q: Look): void {
    this.running++;
    this.stats.looks++;
    void this.head(q).then((head) => {
      if (head === null) this.stats.failed++;
      else if (head === 'known') this.stats.known++;
      else this.learn(head);
    }, () => this.stats.failed++).finally(() => {
      this.running--;
      this.next();
    });
  }

  /** The file's first bytes, read as the opener could; 'known' for a version scanned before; null if not readable so. */
  private async head(q: Look): Promise<Buffer | 'known' | null> {
    const where = locate(q.path, { pid: q.pid, uid: q.uid, gid: q.gid, mntns: q.mntns, remote: false });
    if (where.kind !== 'local') return null;
    // the walk and the rights check; the walk shares the stats other looks took after this one was queued
    const found = await findReadableFile({ ...where.target, since: q.since });
    if (!isReadable(found)) return null;
    const s = found.stats;
    const version = `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
    if (this.versions.has(version)) return 'known'; // no need to open it
    const opened = await openReadable(found);
    if (!isOpened(opened)) return null;
    try {
      const buf = Buffer.alloc(Number(s.size < BigInt(MAX_READ_BYTES) ? s.size : BigInt(MAX_READ_BYTES)));
      const { bytesRead } = await opened.handle.read(buf, 0, buf.length, 0);
      this.versions.add(version);
      if (this.versions.size > MAX_REMEMBERED) this.versions.delete(this.versions.values().next().value!);
      return buf.subarray(0, bytesRead);
    } finally {
      await opened.handle.close();
    }
  }

  private learn(content: Buffer): void {
    const scan = scanContent(content, this.key, { shingles: false });
    for (const f of scan.findings) {
      for (const fp of f.fingerprints) {
        if (this.known.has(fp.id)) continue;
        this.known.add(fp.id);
        this.fingerprints.add(fp.id, fp);
        this.stats.secrets++;
      }
    }
  }
}

interface Look {
  path: Buffer;
  pid: number;
  uid: number;
  gid: number;
  mntns: number;
  /** performance.now() when queued, after the open it looks at (stat-memo.ts) */
  since: number;
}
