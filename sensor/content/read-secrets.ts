// Secrets the agents READ, to tell a secret leaving that the agent read
// from a file it opened (the key it was never meant to send) from one found
// only in egress. For each file an agent opened for reading, the first
// MAX_READ_BYTES are read again — by a child running as the opener's uid and
// gid, with no supplementary groups (libuv drops them), so the sensor never
// reads with more rights than the process that named the path — and scanned
// with collector/dlp; the secrets' fingerprints go into a FingerprintIndex,
// the content is dropped. Bounded: one look per path per REPEAT_MS, at most
// MAX_PER_MINUTE looks, MAX_RUNNING children at once (the others queue,
// MAX_QUEUED at most); the rest is counted. System paths are skipped.
// The file may have changed since the agent read it: a miss then is a miss.
import { execFile } from 'node:child_process';
import { FingerprintIndex, scanContent, type ContentProbe } from '../../collector/dlp/index.js';
import { displayString } from '../../proto/events/bytes.js';
import type { SensorEvent } from '../../proto/events/types.js';

export const MAX_READ_BYTES = 64 * 1024;
const REPEAT_MS = 60_000;
const MAX_PER_MINUTE = 120;
const MAX_RUNNING = 4;
const MAX_REMEMBERED = 4096;
const MAX_QUEUED = 256;
/** Kernel files and the system's programs and libraries: no one's secrets, and read by every process start. */
const SKIPPED = /^\/(?:proc|sys|dev|usr|lib|lib32|lib64|bin|sbin|snap)\/|^\/etc\/ld\.so\.cache$|\/node_modules\//;

export class ReadSecrets {
  private readonly index = new FingerprintIndex();
  private readonly lastLook = new Map<string, number>();
  /** fingerprint ids in the index */
  readonly known = new Set<string>();
  private running = 0;
  private readonly queue: { path: string; uid: number; gid: number }[] = [];
  private minute = { start: 0, n: 0 };
  readonly stats = { looks: 0, skipped: 0, secrets: 0, failed: 0 };

  constructor(private readonly key: Uint8Array, private readonly headPath = '/usr/bin/head') {}

  /** An agent's event: a successful read-open of a file is looked at (asynchronously). */
  note(ev: SensorEvent): void {
    if (ev.type !== 'open' || !ev.agent || ev.result < 0 || ev.access === 'write') return;
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
    this.queue.push({ path, uid: ev.uid, gid: ev.gid });
    this.next();
  }

  private next(): void {
    while (this.running < MAX_RUNNING && this.queue.length > 0) {
      const q = this.queue.shift()!;
      this.look(q.path, q.uid, q.gid);
    }
  }

  /** Which of the read secrets a scan of egress holds (their fingerprint refs). */
  match(probe: ContentProbe): Set<string> {
    if (this.index.size === 0) return new Set();
    return new Set(this.index.match(probe).map((m) => m.ref));
  }

  get idle(): boolean {
    return this.running === 0 && this.queue.length === 0;
  }

  /** Resolves when no look is running (tests). */
  async settled(timeoutMs = 5000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!this.idle && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  }

  private look(path: string, uid: number, gid: number): void {
    this.running++;
    this.stats.looks++;
    // `--` ends head's options: a path cannot be taken for one. No shell.
    execFile(this.headPath, ['-c', String(MAX_READ_BYTES), '--', path], {
      uid, gid, encoding: 'buffer', maxBuffer: MAX_READ_BYTES + 1, timeout: 5000, env: {},
    }, (err, stdout) => {
      this.running--;
      this.next();
      if (err) {
        this.stats.failed++;
        return;
      }
      const scan = scanContent(stdout, this.key, { shingles: false });
      for (const f of scan.findings) {
        for (const fp of f.fingerprints) {
          if (this.known.has(fp.id)) continue;
          this.known.add(fp.id);
          this.index.add(fp.id, fp);
          this.stats.secrets++;
        }
      }
    });
  }
}
