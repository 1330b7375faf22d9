// Captured content chunks (see README: "Kernel capture") in, model turns
// out. One HttpConnection per stream, named by the kernel's key (socket
// cookie, or SSL* and tgid for TLS). Records lost between chunks show as a
// jump in streamOffset and are fed to the parser as missing bytes, exactly
// like a write cut by the per-write bound. The number of live streams is
// bounded (least recently used ones are closed as cut), and so is idle time.
import { HttpConnection, type HttpExchange } from './http/http-connection.js';
import type { HttpLimits } from './http/http-message-parser.js';
import { turnOfExchange } from './model-api/recognise-turn.js';
import type { ModelTurn } from './turn.js';

export interface ContentChunk {
  /** names the stream: socket cookie, or `tls:<tgid>:<SSL* address>` */
  connKey: string;
  /** egress: what the agent wrote/sent; ingress: what it read/received */
  direction: 'egress' | 'ingress';
  tsMs: number;
  pid: number;
  agentPid?: number;
  agent?: string | null;
  /** bytes of this direction the kernel saw before this chunk, captured or not */
  streamOffset: number;
  data: Uint8Array;
  /** bytes of this write/read beyond the per-write bound, not captured */
  missing: number;
  /** the per-connection budget ran out: nothing more comes for this stream */
  budgetExhausted?: boolean;
  /** the remote end, for the turn's record */
  remote?: string;
  /** answers on this stream are never captured (plain sockets): a whole request is a turn at once */
  requestOnly?: boolean;
}

export interface CapturedTurn {
  turn: ModelTurn;
  connKey: string;
  pid: number;
  agentPid?: number;
  agent?: string | null;
  remote?: string;
  startMs: number;
  endMs: number;
}

interface Stream {
  conn: HttpConnection;
  /** next expected offset per direction */
  next: { egress: number; ingress: number };
  /** the agent answered rather than asked (it is the server on this stream) */
  agentIsServer?: boolean;
  lastMs: number;
  firstMs: number;
  meta: Pick<CapturedTurn, 'pid' | 'agentPid' | 'agent' | 'remote'>;
  exhausted: boolean;
}

export interface ContentStreamOptions {
  maxStreams: number;
  idleMs: number;
  limits: Partial<HttpLimits>;
}

export const DEFAULT_CONTENT_STREAM_OPTIONS: ContentStreamOptions = { maxStreams: 4096, idleMs: 5 * 60_000, limits: {} };

export class ContentStreams {
  private readonly streams = new Map<string, Stream>();
  private readonly opts: ContentStreamOptions;
  readonly stats = { streamsEvicted: 0, gapBytes: 0, exchangesWithoutTurn: 0 };

  constructor(options: Partial<ContentStreamOptions> = {}) {
    this.opts = { ...DEFAULT_CONTENT_STREAM_OPTIONS, ...options };
  }

  chunk(c: ContentChunk): CapturedTurn[] {
    let s = this.streams.get(c.connKey);
    const out: CapturedTurn[] = [];
    if (!s) {
      if (this.streams.size >= this.opts.maxStreams) out.push(...this.closeKey(this.streams.keys().next().value as string, false, true));
      s = {
        conn: new HttpConnection(this.opts.limits, c.requestOnly === true), next: { egress: 0, ingress: 0 }, lastMs: c.tsMs, firstMs: c.tsMs,
        meta: { pid: c.pid, agentPid: c.agentPid, agent: c.agent, remote: c.remote }, exhausted: false,
      };
      this.streams.set(c.connKey, s);
    } else {
      // Most recently used last, so eviction takes the stalest.
      this.streams.delete(c.connKey);
      this.streams.set(c.connKey, s);
    }
    if (s.agentIsServer === undefined && c.data.length > 0) {
      const head = Buffer.from(c.data.subarray(0, 8)).toString('latin1');
      s.agentIsServer = c.direction === 'egress' ? head.startsWith('HTTP/1.') : !head.startsWith('HTTP/1.');
    }
    const gap = Math.max(0, c.streamOffset - s.next[c.direction]);
    if (gap > 0) this.stats.gapBytes += gap;
    s.next[c.direction] = Math.max(s.next[c.direction], c.streamOffset) + c.data.length + c.missing;
    s.lastMs = c.tsMs;
    const clientSide = (c.direction === 'egress') !== (s.agentIsServer === true);
    const feed = (bytes: Uint8Array, missing: number): HttpExchange[] =>
      clientSide ? s!.conn.clientBytes(bytes, missing, c.tsMs) : s!.conn.serverBytes(bytes, missing, c.tsMs);
    const exchanges: HttpExchange[] = [];
    if (gap > 0) exchanges.push(...feed(new Uint8Array(0), gap));
    exchanges.push(...feed(c.data, c.missing));
    out.push(...this.turns(c.connKey, s, exchanges, c.tsMs));
    if (c.budgetExhausted) s.exhausted = true;
    if (s.exhausted) out.push(...this.closeKey(c.connKey, false));
    return out;
  }

  /** The connection closed (close/shutdown seen, or the process exited). */
  close(connKey: string, cleanClose = true): CapturedTurn[] {
    return this.closeKey(connKey, cleanClose);
  }

  /** Close the streams whose key starts with `prefix` (a process exited: its sockets are gone). */
  closeWhere(prefix: string): CapturedTurn[] {
    const out: CapturedTurn[] = [];
    for (const key of [...this.streams.keys()]) if (key.startsWith(prefix)) out.push(...this.closeKey(key, false));
    return out;
  }

  /** Close streams idle since before nowMs - idleMs (as cut: their end was not seen). */
  expire(nowMs: number): CapturedTurn[] {
    const out: CapturedTurn[] = [];
    for (const [key, s] of this.streams) if (s.lastMs < nowMs - this.opts.idleMs) out.push(...this.closeKey(key, false));
    return out;
  }

  get size(): number { return this.streams.size; }

  private closeKey(key: string, clean: boolean, evicted = false): CapturedTurn[] {
    const s = this.streams.get(key);
    if (!s) return [];
    this.streams.delete(key);
    if (evicted) this.stats.streamsEvicted++;
    return this.turns(key, s, s.conn.close(clean), s.lastMs);
  }

  private turns(key: string, s: Stream, exchanges: HttpExchange[], endMs: number): CapturedTurn[] {
    const out: CapturedTurn[] = [];
    for (const ex of exchanges) {
      const turn = turnOfExchange(ex);
      // The capture time of the chunk that completed the request head.
      const startMs = ex.request.tag ?? s.firstMs;
      if (!turn) { this.stats.exchangesWithoutTurn++; continue; }
      turn.sessionId = key;
      turn.ts = new Date(startMs).toISOString();
      out.push({ turn, connKey: key, ...s.meta, startMs, endMs });
    }
    return out;
  }
}
