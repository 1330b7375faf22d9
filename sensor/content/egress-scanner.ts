// DLP on what agents send: per egress stream (one socket, or one TLS session
// as SSL_write saw it), HTTP/1.1 requests are rebuilt with collector/intent's
// parser (a body sent in several writes, chunked or gzip'd, is scanned
// whole) and their head and decoded body scanned with collector/dlp; a
// stream that is not HTTP is scanned chunk by chunk with an overlap, so a
// secret split across two writes is still seen. A secret is reported once per
// stream. Results keep classes, offsets and keyed fingerprints: the bytes
// are dropped when the scan returns.
import { decodeBody } from '../../collector/intent/http/body-decoding.js';
import { HttpMessageParser, type HttpMessage } from '../../collector/intent/http/http-message-parser.js';
import { scanContent, type ContentProbe, type DlpFinding } from '../../collector/dlp/index.js';

export interface EgressChunk {
  /** the stream: `socket:<tgid>:<sock>` or `tls:<tgid>:<SSL*>` */
  key: string;
  streamOffset: number;
  data: Uint8Array;
  /** bytes of this write not captured */
  missing: number;
}

export interface EgressScanResult {
  key: string;
  /** what carried it: `POST /v1/chat/completions (body)`, `… (headers)`, `raw bytes` */
  carrier: string;
  /** the request's Host header, where HTTP said one */
  host?: string;
  findings: DlpFinding[];
  /** fingerprint ids of secrets the agent read that this scan holds (any form) */
  readIds: Set<string>;
}

/** Bytes of the previous raw chunk scanned again with the next (a secret cut by a write boundary). */
export const RAW_OVERLAP = 4096;
const HTTP_REQUEST_LINE = /^[A-Z]{3,10} [^ \r\n]+ HTTP\/1\.[01]\r?\n/;
const MAX_STREAMS = 4096;

interface Stream {
  mode: 'http' | 'raw';
  parser?: HttpMessageParser;
  next: number;
  tail: Buffer;
  /** fingerprint ids already reported on this stream */
  reported: Set<string>;
}

export class EgressScanner {
  private readonly streams = new Map<string, Stream>();
  readonly stats = { scans: 0, scannedBytes: 0, gapBytes: 0, messages: 0 };

  /** `key`: the fingerprint key (>= 16 bytes) the DLP hashes with; `readSecrets`: fingerprints of what agents read. */
  constructor(private readonly key: Uint8Array, private readonly readSecrets?: { match(p: ContentProbe): Set<string>; known: Set<string> }) {}

  chunk(c: EgressChunk): EgressScanResult[] {
    let s = this.streams.get(c.key);
    // Offset 0 again: the kernel's key names a new connection (its socket reused the address).
    if (s && c.streamOffset === 0 && s.next > 0) {
      this.streams.delete(c.key);
      s = undefined;
    }
    if (!s) {
      if (this.streams.size >= MAX_STREAMS) this.streams.delete(this.streams.keys().next().value!);
      const head = Buffer.from(c.data.subarray(0, 2048)).toString('latin1');
      s = { mode: HTTP_REQUEST_LINE.test(head) ? 'http' : 'raw', next: c.streamOffset, tail: Buffer.alloc(0), reported: new Set() };
      if (s.mode === 'http') s.parser = new HttpMessageParser('request');
      this.streams.set(c.key, s);
    }
    const gap = Math.max(0, c.streamOffset - s.next);
    this.stats.gapBytes += gap;
    s.next = Math.max(s.next, c.streamOffset) + c.data.length + c.missing;
    if (s.mode === 'http') {
      const out: EgressScanResult[] = [];
      const msgs = gap > 0 ? s.parser!.push(new Uint8Array(0), { missing: gap }) : [];
      msgs.push(...s.parser!.push(c.data, { missing: c.missing }));
      for (const m of msgs) out.push(...this.message(c.key, s, m));
      return out;
    }
    // Raw: this chunk with the end of the previous one (unless bytes were lost between them).
    const bytes = gap > 0 || s.tail.length === 0 ? Buffer.from(c.data) : Buffer.concat([s.tail, c.data]);
    s.tail = c.missing > 0 ? Buffer.alloc(0) : Buffer.from(bytes.subarray(Math.max(0, bytes.length - RAW_OVERLAP)));
    return this.scan(c.key, s, bytes, 'raw bytes');
  }

  /** The stream ended: a request still open (cut) is scanned as it is. */
  close(key: string): EgressScanResult[] {
    const s = this.streams.get(key);
    if (!s) return [];
    this.streams.delete(key);
    const out: EgressScanResult[] = [];
    if (s.parser) for (const m of s.parser.end({ cleanClose: false })) out.push(...this.message(key, s, m));
    return out;
  }

  /** Streams whose key starts with `prefix` (a process's, at its exit). */
  closeWhere(prefix: (key: string) => boolean): EgressScanResult[] {
    const out: EgressScanResult[] = [];
    for (const key of [...this.streams.keys()]) if (prefix(key)) out.push(...this.close(key));
    return out;
  }

  get size(): number {
    return this.streams.size;
  }

  private message(key: string, s: Stream, m: HttpMessage): EgressScanResult[] {
    this.stats.messages++;
    const host = m.headers.host;
    const what = `${m.method ?? '?'} ${(m.target ?? '?').slice(0, 200)}`;
    const head = Buffer.from(Object.entries(m.headers).map(([k, v]) => `${k}: ${v}`).join('\r\n'), 'latin1');
    const out = this.scan(key, s, head, `${what} (headers)`, host);
    if (m.body.length > 0) {
      const body = decodeBody(m.body, m.headers['content-encoding']);
      const type = (m.headers['content-type'] ?? '').split(';')[0]!.trim();
      out.push(...this.scan(key, s, body.bytes, `${what} (${type === 'application/json' ? 'JSON ' : ''}body${m.incomplete ? ', cut' : ''})`, host));
    }
    return out;
  }

  private scan(key: string, s: Stream, bytes: Buffer, carrier: string, host?: string): EgressScanResult[] {
    if (bytes.length === 0) return [];
    this.stats.scans++;
    this.stats.scannedBytes += bytes.length;
    const scan = scanContent(bytes, this.key, { shingles: false });
    const fresh = scan.findings.filter((f) => {
      const ids = f.fingerprints.map((fp) => fp.id);
      const novel = ids.length === 0 ? !s.reported.has(`${f.class}@${carrier}`) : ids.some((id) => !s.reported.has(id));
      for (const id of ids) s.reported.add(id);
      if (ids.length === 0) s.reported.add(`${f.class}@${carrier}`);
      return novel;
    });
    if (!fresh.length) return [];
    const readIds = this.readSecrets?.match(scan.probe) ?? new Set<string>();
    for (const f of fresh) for (const fp of f.fingerprints) if (this.readSecrets?.known.has(fp.id)) readIds.add(fp.id);
    return [{ key, carrier, host, findings: fresh, readIds }];
  }
}
