// Splits bpftrace's `-f json` output into messages and decodes the printf
// lines to raw bytes.
//
// bpftrace 0.17's JSON string escaper writes control bytes as \u00XX and,
// because it reads `char` as signed, every byte >= 0x80 as \uffffffXX (eight
// hex digits). So its output is pure ASCII but not valid JSON whenever a
// path has a non-ASCII byte; JSON.parse would also turn bytes into UTF-16.
// We therefore decode printf data ourselves, byte-exact, and use JSON.parse
// only for bpftrace's own (ASCII, well-formed) messages.

export type BpftraceMessage =
  | { kind: 'printf'; data: Buffer }
  | { kind: 'attached'; probes: number }
  | { kind: 'lost'; events: number }
  | { kind: 'other'; type: string }
  | { kind: 'malformed'; line: string };

const PRINTF_PREFIX = '{"type": "printf", "data": "';
const PRINTF_SUFFIX = '"}';

export function parseMessage(line: string): BpftraceMessage {
  if (line.startsWith(PRINTF_PREFIX) && line.endsWith(PRINTF_SUFFIX)) {
    const data = unescapeJsonBytes(line, PRINTF_PREFIX.length, line.length - PRINTF_SUFFIX.length);
    return data ? { kind: 'printf', data } : { kind: 'malformed', line };
  }
  let msg: { type?: unknown; data?: unknown };
  try {
    msg = JSON.parse(line) as { type?: unknown; data?: unknown };
  } catch {
    const lost = /Lost (\d+) events/.exec(line);
    return lost ? { kind: 'lost', events: Number(lost[1]) } : { kind: 'malformed', line };
  }
  const data = (msg.data ?? {}) as Record<string, unknown>;
  if (msg.type === 'attached_probes') return { kind: 'attached', probes: Number(data.probes ?? 0) };
  if (msg.type === 'lost_events') return { kind: 'lost', events: Number(data.events ?? 0) };
  return { kind: 'other', type: String(msg.type) };
}

function hexVal(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

function hexAt(s: string, at: number, n: number): number {
  let v = 0;
  for (let i = 0; i < n; i++) {
    const h = hexVal(s.charCodeAt(at + i));
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

/** The bytes of a bpftrace JSON string body s[start, end), or null if malformed. */
export function unescapeJsonBytes(s: string, start: number, end: number): Buffer | null {
  const out = Buffer.allocUnsafe(end - start);
  let o = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c !== 0x5c) {
      if (c > 0x7f) return null; // bpftrace never writes raw non-ASCII
      out[o++] = c;
      continue;
    }
    const e = s.charCodeAt(++i);
    switch (e) {
      case 0x22: out[o++] = 0x22; break; // \"
      case 0x5c: out[o++] = 0x5c; break; // \\
      case 0x2f: out[o++] = 0x2f; break; // \/
      case 0x62: out[o++] = 0x08; break; // \b
      case 0x66: out[o++] = 0x0c; break; // \f
      case 0x6e: out[o++] = 0x0a; break; // \n
      case 0x72: out[o++] = 0x0d; break; // \r
      case 0x74: out[o++] = 0x09; break; // \t
      case 0x75: { // \u
        const v = hexAt(s, i + 1, 4);
        if (v < 0) return null;
        if (v === 0xffff) { // \uffffffXX: a byte >= 0x80 sign-extended
          const hi = hexAt(s, i + 5, 2);
          const b = hexAt(s, i + 7, 2);
          if (hi !== 0xff || b < 0x80) return null;
          out[o++] = b;
          i += 8;
        } else {
          if (v > 0xff) return null; // bpftrace escapes bytes, never code points
          out[o++] = v;
          i += 4;
        }
        break;
      }
      default:
        return null;
    }
  }
  return out.subarray(0, o);
}

/** Bytes of a %rx rendering ("\x2f\x62..."), or null if it is not one. */
export function unhexRx(s: Buffer, start: number, end: number): Buffer | null {
  if ((end - start) % 4 !== 0) return null;
  const out = Buffer.allocUnsafe((end - start) / 4);
  for (let i = start, o = 0; i < end; i += 4, o++) {
    if (s[i] !== 0x5c || s[i + 1] !== 0x78) return null;
    const h = hexVal(s[i + 2]);
    const l = hexVal(s[i + 3]);
    if (h < 0 || l < 0) return null;
    out[o] = h * 16 + l;
  }
  return out;
}

/**
 * Splits a printf line into `count` space-separated fields and the rest
 * (the free-form string, which may contain spaces; the trailing newline the
 * script prints is dropped). Returns null when there are too few fields.
 */
export function splitFields(line: Buffer, count: number): { fields: Buffer[]; rest: Buffer } | null {
  const fields: Buffer[] = [];
  let pos = 0;
  const end = line.length > 0 && line[line.length - 1] === 0x0a ? line.length - 1 : line.length;
  while (fields.length < count) {
    const sp = line.indexOf(0x20, pos);
    if (sp < 0 || sp >= end) {
      if (fields.length === count - 1 && pos <= end) {
        fields.push(line.subarray(pos, end));
        return { fields, rest: line.subarray(end, end) };
      }
      return null;
    }
    fields.push(line.subarray(pos, sp));
    pos = sp + 1;
  }
  return { fields, rest: line.subarray(pos, end) };
}

/** Reads a line of bytes into lines; keeps a partial tail between chunks. */
export class LineSplitter {
  private tail = '';

  /** bpftrace's JSON output is ASCII (see above), so latin1 is exact. */
  push(chunk: Buffer): string[] {
    const text = this.tail + chunk.toString('latin1');
    const lines = text.split('\n');
    this.tail = lines.pop() ?? '';
    return lines.filter((l) => l.length > 0);
  }

  flush(): string[] {
    const t = this.tail;
    this.tail = '';
    return t ? [t] : [];
  }
}
