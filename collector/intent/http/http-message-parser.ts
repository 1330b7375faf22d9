// An incremental HTTP/1.1 parser for ONE direction of one connection, fed the
// plaintext the sensor captured (socket writes/reads, or SSL_write/SSL_read
// through uprobes). The capture is bounded and may be cut: `push(bytes,
// { missing })` says that `missing` bytes of the write were not captured
// after these. A cut inside a Content-Length or chunk body is skipped by count
// (framing survives); a cut inside a header or a chunk-size line drops the
// message in progress and the parser resynchronises on the next line that
// starts a request or a status line. Nothing here throws on hostile bytes:
// every limit ends in a counted drop, never in unbounded memory.

export type HttpRole = 'request' | 'response';

export interface HttpLimits {
  /** start line + headers; larger heads are dropped (resync) */
  maxHeadBytes: number;
  /** body bytes kept per message; more are counted in bodyDroppedBytes */
  maxBodyBytes: number;
  /** bytes buffered while searching for a start line after a cut */
  maxResyncBytes: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  maxHeadBytes: 64 * 1024,
  maxBodyBytes: 4 * 1024 * 1024,
  maxResyncBytes: 64 * 1024,
};

export interface HttpMessage {
  role: HttpRole;
  /** request only */
  method?: string;
  target?: string;
  /** response only */
  status?: number;
  version: string;
  /** lower-case names; repeated headers joined with ", " */
  headers: Record<string, string>;
  /** the (still encoded) body bytes kept, at most maxBodyBytes */
  body: Buffer;
  /** bytes of body beyond the limit or lost to a capture cut */
  bodyDroppedBytes: number;
  /** the body is not whole: cut in capture, over the limit, or the stream ended early */
  incomplete: boolean;
  /** the caller's tag of the push that completed the head (e.g. its capture time) */
  tag?: number;
}

export interface HttpParserStats {
  messages: number;
  /** messages abandoned (head cut, malformed head, oversized head) */
  dropped: number;
  /** bytes skipped while resynchronising */
  skippedBytes: number;
  /** bytes the capture reported missing */
  missingBytes: number;
}

type State =
  | { kind: 'head' }
  | { kind: 'resync' }
  | { kind: 'fixed'; remaining: number }
  | { kind: 'chunk-size' }
  | { kind: 'chunk-data'; remaining: number }
  | { kind: 'chunk-crlf' }
  | { kind: 'trailers' }
  | { kind: 'until-close' };

const METHODS = 'GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS|CONNECT|TRACE';
const REQUEST_LINE = new RegExp(`^(${METHODS}) (\\S{1,8192}) HTTP/(1\\.[01])$`);
const STATUS_LINE = /^HTTP\/(1\.[01]) (\d{3})(?: .*)?$/;
const START_SCAN = new RegExp(`(?:^|\\n)(?:(?:${METHODS}) \\S|HTTP/1\\.[01] \\d{3})`);
const MAX_CHUNK_LINE = 1024;

export interface ParserOptions {
  limits?: Partial<HttpLimits>;
  /** responses: the method of the request this response answers (HEAD has no body) */
  requestMethodForNextResponse?: () => string | undefined;
}

export class HttpMessageParser {
  readonly stats: HttpParserStats = { messages: 0, dropped: 0, skippedBytes: 0, missingBytes: 0 };
  private readonly limits: HttpLimits;
  private state: State = { kind: 'head' };
  private buf: Buffer = Buffer.alloc(0);
  private current: HttpMessage | null = null;
  private bodyParts: Buffer[] = [];
  private bodyKept = 0;
  private readonly out: HttpMessage[] = [];
  private pushTag?: number;

  constructor(readonly role: HttpRole, private readonly options: ParserOptions = {}) {
    this.limits = { ...DEFAULT_HTTP_LIMITS, ...options.limits };
  }

  /** Feed captured bytes; `missing` bytes that followed them were not captured. */
  push(bytes: Uint8Array, opts: { missing?: number; tag?: number } = {}): HttpMessage[] {
    this.pushTag = opts.tag;
    if (bytes.length > 0) {
      // After a cut, a capture that starts with a start line starts a message:
      // the kernel records writes whole from their first byte.
      if (this.state.kind === 'resync' && START_SCAN.exec(Buffer.from(bytes.subarray(0, 24)).toString('latin1'))?.index === 0) {
        this.stats.skippedBytes += this.buf.length;
        this.buf = Buffer.alloc(0);
        this.state = { kind: 'head' };
      }
      this.buf = this.buf.length === 0 ? Buffer.from(bytes) : Buffer.concat([this.buf, bytes]);
      this.drain();
    }
    const missing = Math.max(0, Math.floor(opts.missing ?? 0));
    if (missing > 0) this.cut(missing);
    return this.out.splice(0);
  }

  /**
   * The other side answered while this message is still being read: its rest
   * was lost (a dropped record shows only at the next chunk). Hand it out as
   * incomplete and look for the next start line.
   */
  interrupt(): HttpMessage[] {
    if (this.current) {
      this.finish(true);
      this.buf = Buffer.alloc(0);
      this.enterResync();
    }
    return this.out.splice(0);
  }

  /** The stream ended (close or capture stopped): finish what can be finished. */
  end(opts: { cleanClose?: boolean } = {}): HttpMessage[] {
    if (this.current) {
      const s = this.state.kind;
      // A body read until close is whole only on a clean close.
      this.finish(!(s === 'until-close' && opts.cleanClose !== false));
    }
    this.buf = Buffer.alloc(0);
    this.state = { kind: 'head' };
    return this.out.splice(0);
  }

  private drain(): void {
    for (let guard = 0; guard < 1_000_000 && this.buf.length > 0; guard++) {
      const before = this.buf.length;
      const st = this.state.kind;
      this.step();
      // No progress and no state change: wait for more bytes.
      if (this.buf.length === before && this.state.kind === st) return;
    }
  }

  private step(): void {
    const s = this.state;
    switch (s.kind) {
      case 'resync': return this.resync();
      case 'head': return this.readHead();
      case 'fixed': {
        const n = Math.min(s.remaining, this.buf.length);
        this.keep(this.take(n));
        s.remaining -= n;
        if (s.remaining === 0) this.finish(false);
        return;
      }
      case 'until-close': this.keep(this.take(this.buf.length)); return;
      case 'chunk-size': {
        const line = this.line(MAX_CHUNK_LINE);
        if (line === null) return;
        const size = /^([0-9a-fA-F]{1,12})[ \t]*(?:;.*)?$/.exec(line);
        if (!size) return this.abandon();
        const n = parseInt(size[1], 16);
        this.state = n === 0 ? { kind: 'trailers' } : { kind: 'chunk-data', remaining: n };
        return;
      }
      case 'chunk-data': {
        const n = Math.min(s.remaining, this.buf.length);
        this.keep(this.take(n));
        s.remaining -= n;
        if (s.remaining === 0) this.state = { kind: 'chunk-crlf' };
        return;
      }
      case 'chunk-crlf': {
        const line = this.line(MAX_CHUNK_LINE);
        if (line === null) return;
        if (line !== '') return this.abandon();
        this.state = { kind: 'chunk-size' };
        return;
      }
      case 'trailers': {
        const line = this.line(this.limits.maxHeadBytes);
        if (line === null) return;
        if (line === '') this.finish(false);
        return;
      }
    }
  }

  private readHead(): void {
    // Skip stray blank lines between messages (RFC 9112 2.2).
    while (this.buf.length > 0 && (this.buf[0] === 0x0d || this.buf[0] === 0x0a)) this.buf = this.buf.subarray(1);
    if (this.buf.length === 0) return;
    let end = this.buf.indexOf('\r\n\r\n');
    let sep = 4;
    const lf = this.buf.indexOf('\n\n');
    if (lf >= 0 && (end < 0 || lf < end)) { end = lf; sep = 2; }
    if (end < 0) {
      if (this.buf.length > this.limits.maxHeadBytes) this.badHead();
      return;
    }
    if (end > this.limits.maxHeadBytes) return this.badHead();
    const head = this.buf.subarray(0, end).toString('latin1');
    const lines = head.split(/\r?\n/);
    const msg = this.startLine(lines[0]);
    if (!msg) return this.badHead();
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      if (i <= 0) return this.badHead();
      const name = l.slice(0, i).trim().toLowerCase();
      const value = l.slice(i + 1).trim();
      msg.headers[name] = name in msg.headers ? `${msg.headers[name]}, ${value}` : value;
    }
    this.buf = this.buf.subarray(end + sep);
    if (this.pushTag !== undefined) msg.tag = this.pushTag;
    this.current = msg;
    this.bodyParts = [];
    this.bodyKept = 0;
    this.state = this.bodyFraming(msg);
    if (this.state.kind === 'head') this.finish(false);
  }

  private startLine(line: string): HttpMessage | null {
    const base = { headers: Object.create(null) as Record<string, string>, body: Buffer.alloc(0), bodyDroppedBytes: 0, incomplete: false };
    if (this.role === 'request') {
      const m = REQUEST_LINE.exec(line);
      return m ? { role: 'request', method: m[1], target: m[2], version: m[3], ...base } : null;
    }
    const m = STATUS_LINE.exec(line);
    return m ? { role: 'response', status: Number(m[2]), version: m[1], ...base } : null;
  }

  private bodyFraming(msg: HttpMessage): State {
    const te = (msg.headers['transfer-encoding'] ?? '').toLowerCase();
    if (msg.role === 'response') {
      const method = this.options.requestMethodForNextResponse?.();
      const st = msg.status ?? 0;
      if (method === 'HEAD' || (st >= 100 && st < 200) || st === 204 || st === 304) return { kind: 'head' };
    }
    if (/(?:^|,)\s*chunked\s*$/.test(te)) return { kind: 'chunk-size' };
    const cl = msg.headers['content-length'];
    if (cl !== undefined) {
      // Conflicting repeated lengths are a smuggling shape: refuse the message.
      if (!/^\d{1,15}$/.test(cl)) return this.abandonState();
      const n = Number(cl);
      return n === 0 ? { kind: 'head' } : { kind: 'fixed', remaining: n };
    }
    return msg.role === 'request' ? { kind: 'head' } : { kind: 'until-close' };
  }

  /** Bytes after the captured ones were lost. */
  private cut(missing: number): void {
    this.stats.missingBytes += missing;
    const s = this.state;
    if (s.kind === 'fixed' || s.kind === 'chunk-data') {
      const skip = Math.min(missing, s.remaining);
      this.lose(skip);
      s.remaining -= skip;
      const rest = missing - skip;
      if (s.remaining === 0) {
        if (s.kind === 'fixed') this.finish(true);
        else this.state = { kind: 'chunk-crlf' };
      }
      // The cut ran past the body: whatever came next is unknown.
      if (rest > 0) {
        if (this.current) this.abandon();
        else this.enterResync();
      }
      return;
    }
    if (s.kind === 'until-close') { this.lose(missing); return; }
    // A head or chunk line whose rest is missing can never be completed.
    const partialHead = s.kind === 'head' && this.buf.length > 0;
    this.stats.skippedBytes += this.buf.length;
    this.buf = Buffer.alloc(0);
    if (this.current) this.abandon();
    else {
      if (partialHead) this.stats.dropped++;
      this.enterResync();
    }
  }

  private lose(n: number): void {
    if (!this.current) return;
    this.current.bodyDroppedBytes += n;
    this.current.incomplete = true;
  }

  private keep(bytes: Buffer): void {
    if (!this.current) return;
    const room = this.limits.maxBodyBytes - this.bodyKept;
    if (room >= bytes.length) {
      this.bodyParts.push(bytes);
      this.bodyKept += bytes.length;
      return;
    }
    if (room > 0) { this.bodyParts.push(bytes.subarray(0, room)); this.bodyKept += room; }
    this.lose(bytes.length - Math.max(0, room));
  }

  private finish(incomplete: boolean): void {
    const msg = this.current;
    this.current = null;
    this.state = { kind: 'head' };
    if (!msg) return;
    msg.body = Buffer.concat(this.bodyParts);
    this.bodyParts = [];
    msg.incomplete = msg.incomplete || incomplete;
    this.stats.messages++;
    this.out.push(msg);
  }

  /** Drop the message in progress (if any) and look for the next start line. */
  private abandon(): void {
    if (this.current) {
      // A body already framed but broken mid-way is still worth its prefix.
      if (this.bodyKept > 0) { this.finish(true); this.enterResync(); return; }
      this.current = null;
    }
    this.stats.dropped++;
    this.enterResync();
  }

  /** A head that cannot be parsed: skip a byte so the resync scan moves past it. */
  private badHead(): void {
    this.buf = this.buf.subarray(1);
    this.stats.skippedBytes++;
    this.abandon();
  }

  private abandonState(): State {
    this.current = null;
    this.stats.dropped++;
    return { kind: 'resync' };
  }

  private enterResync(): void {
    this.bodyParts = [];
    this.bodyKept = 0;
    this.state = { kind: 'resync' };
  }

  private resync(): void {
    const text = this.buf.toString('latin1');
    const m = START_SCAN.exec(text);
    if (m) {
      const at = m.index + (text[m.index] === '\n' ? 1 : 0);
      // Only a start found at a line start (or the very start) counts.
      this.stats.skippedBytes += at;
      this.buf = this.buf.subarray(at);
      this.state = { kind: 'head' };
      return;
    }
    // Keep a short tail: a start line may straddle two captures.
    const keep = Math.min(this.buf.length, 16);
    this.stats.skippedBytes += this.buf.length - keep;
    this.buf = this.buf.subarray(this.buf.length - keep);
    if (this.buf.length > this.limits.maxResyncBytes) this.buf = Buffer.alloc(0);
  }

  private take(n: number): Buffer {
    const b = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return b;
  }

  /** One CRLF/LF-terminated line, or null when not all there yet (or too long: abandon). */
  private line(max: number): string | null {
    const i = this.buf.indexOf('\n');
    if (i < 0) {
      if (this.buf.length > max) this.abandon();
      return null;
    }
    if (i > max) { this.abandon(); return null; }
    const raw = this.buf.subarray(0, i).toString('latin1');
    this.buf = this.buf.subarray(i + 1);
    return raw.endsWith('\r') ? raw.slice(0, -1) : raw;
  }
}
