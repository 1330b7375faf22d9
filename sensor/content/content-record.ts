// The records content-ctl streams on its stdout (native/content/content-ctl.c):
// frames of u32 type, u32 length, then the payload; type 1 is one kernel
// record (struct content_hdr of bpf/content/content.h, then its data), type 2
// one line of JSON. Little-endian, as the kernel wrote it.

export const CONTENT_HDR_BYTES = 72;

export interface ContentRecord {
  kind: 'data' | 'bind';
  ktimeNs: bigint;
  /** struct sock * (socket) or SSL * (TLS), as a hex string */
  connId: string;
  streamOffset: number;
  /** the socket: for data on sockets = connId; for bind the socket carrying the SSL stream */
  sockId: string;
  tgid: number;
  tid: number;
  /** bytes of the call beyond the captured ones (per-write bound or budget) */
  missing: number;
  source: 'socket' | 'tls';
  direction: 'egress' | 'ingress';
  budgetExhausted: boolean;
  udp: boolean;
  /** `addr:port` of the socket's peer, when known */
  remote?: string;
  data: Buffer;
}

function remoteOf(family: number, port: number, addr: Buffer): string | undefined {
  if (family === 2) return `${addr[0]}.${addr[1]}.${addr[2]}.${addr[3]}:${port}`;
  if (family === 10) {
    const words: string[] = [];
    for (let i = 0; i < 16; i += 2) words.push(addr.readUInt16BE(i).toString(16));
    return `[${words.join(':').replace(/(^|:)0(:0)+(:|$)/, '::')}]:${port}`;
  }
  return undefined;
}

/** One kernel record; null when it is too short to be one (a bug, never thrown at the caller). */
export function decodeContentRecord(b: Buffer): ContentRecord | null {
  if (b.length < CONTENT_HDR_BYTES) return null;
  const len = b.readUInt32LE(40);
  const origLen = b.readUInt32LE(44);
  if (CONTENT_HDR_BYTES + len > b.length) return null;
  const kind = b[48];
  const flags = b[51]!;
  const family = b.readUInt16LE(52);
  return {
    kind: kind === 2 ? 'bind' : 'data',
    ktimeNs: b.readBigUInt64LE(0),
    connId: b.readBigUInt64LE(8).toString(16),
    streamOffset: Number(b.readBigUInt64LE(16)),
    sockId: b.readBigUInt64LE(24).toString(16),
    tgid: b.readUInt32LE(32),
    tid: b.readUInt32LE(36),
    missing: Math.max(0, origLen - len),
    source: b[49] === 2 ? 'tls' : 'socket',
    direction: b[50] === 2 ? 'ingress' : 'egress',
    budgetExhausted: (flags & 1) !== 0,
    udp: (flags & 2) !== 0,
    remote: remoteOf(family, b.readUInt16LE(54), b.subarray(56, 72)),
    data: b.subarray(CONTENT_HDR_BYTES, CONTENT_HDR_BYTES + len),
  };
}

/** Splits a byte stream into frames; keeps a partial frame for the next push. */
export class FrameReader {
  private pending: Buffer = Buffer.alloc(0);
  /** frames longer than this are a broken stream: it stops */
  static readonly MAX_FRAME = 1 << 20;
  broken = false;

  push(chunk: Buffer, onFrame: (type: number, payload: Buffer) => void): void {
    if (this.broken) return;
    let buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    let at = 0;
    while (buf.length - at >= 8) {
      const type = buf.readUInt32LE(at);
      const len = buf.readUInt32LE(at + 4);
      if (len > FrameReader.MAX_FRAME) {
        this.broken = true;
        return;
      }
      if (buf.length - at - 8 < len) break;
      // A copy: the chunk's memory is reused by the stream.
      onFrame(type, Buffer.from(buf.subarray(at + 8, at + 8 + len)));
      at += 8 + len;
    }
    buf = buf.subarray(at);
    this.pending = Buffer.from(buf);
  }
}
