// Builds raw kernel records byte by byte at the C offsets of bpf/events.h
// (written out here on purpose, not taken from sensor/kernel/layout.ts, so a
// decoder test also checks the layout table). For decoder tests and benches
// that need ring-buffer bytes without a kernel.

export interface HeaderFields {
  type: number;
  flags?: number;
  tsNs?: bigint;
  pid?: number;
  tid?: number;
  ppid?: number;
  uid?: number;
  gid?: number;
  agentId?: number;
  cgroupId?: bigint;
  netns?: number;
  mntns?: number;
  comm?: string | Buffer;
  agentPid?: number;
}

const HDR = 80;
const round8 = (n: number): number => (n + 7) & ~7;

function header(b: Buffer, h: HeaderFields): void {
  b.writeUInt16LE(h.type, 0);
  b.writeUInt16LE(h.flags ?? 0, 2);
  b.writeUInt32LE(b.length, 4);
  b.writeBigUInt64LE(h.tsNs ?? 1_000_000_000n, 8);
  b.writeUInt32LE(h.pid ?? 100, 16);
  b.writeUInt32LE(h.tid ?? h.pid ?? 100, 20);
  b.writeUInt32LE(h.ppid ?? 1, 24);
  b.writeUInt32LE(h.uid ?? 0, 28);
  b.writeUInt32LE(h.gid ?? 0, 32);
  b.writeUInt32LE(h.agentId ?? 1, 36);
  b.writeBigUInt64LE(h.cgroupId ?? 1n, 40);
  b.writeUInt32LE(h.netns ?? 4026531840, 48);
  b.writeUInt32LE(h.mntns ?? 4026531841, 52);
  const comm = typeof h.comm === 'string' ? Buffer.from(h.comm) : (h.comm ?? Buffer.from('test'));
  comm.copy(b, 56, 0, Math.min(comm.length, 15));
  b.writeUInt32LE(h.agentPid ?? 0, 72);
}

const buf = (s: string | Buffer): Buffer => (typeof s === 'string' ? Buffer.from(s) : s);

export function execRecord(
  h: Omit<HeaderFields, 'type'>, filename: string | Buffer, argv: (string | Buffer)[], startNs = 5n,
  exe: string | Buffer = '', cwd: string | Buffer = '',
): Buffer {
  const fn = buf(filename);
  const area = Buffer.concat(argv.flatMap((a) => [buf(a), Buffer.from([0])]));
  const x = buf(exe);
  const c = buf(cwd);
  const b = Buffer.alloc(round8(104 + fn.length + area.length + x.length + c.length));
  header(b, { ...h, type: 1 });
  b.writeBigUInt64LE(startNs, 80);
  b.writeUInt32LE(fn.length, 88);
  b.writeUInt32LE(area.length, 92);
  b.writeUInt32LE(argv.length, 96);
  b.writeUInt16LE(x.length, 100);
  b.writeUInt16LE(c.length, 102);
  fn.copy(b, 104);
  area.copy(b, 104 + fn.length);
  x.copy(b, 104 + fn.length + area.length);
  c.copy(b, 104 + fn.length + area.length + x.length);
  return b;
}

export function forkRecord(h: Omit<HeaderFields, 'type'>, startNs = 7n): Buffer {
  const b = Buffer.alloc(88);
  header(b, { ...h, type: 2 });
  b.writeBigUInt64LE(startNs, 80);
  return b;
}

export function exitRecord(h: Omit<HeaderFields, 'type'>, waitStatus: number): Buffer {
  const b = Buffer.alloc(88);
  header(b, { ...h, type: 3 });
  b.writeUInt32LE(waitStatus, 80);
  return b;
}

export interface OpenFields {
  result?: number; flags?: number; mode?: number; dirfd?: number; syscallNr?: number;
  /** the kernel's path of the opened file (kpath) */
  kpath?: string | Buffer;
  /** struct file_identity: the kernel's dev_t encoding (MAJOR << 20 | MINOR) */
  opened?: { dev: number; mode: number; ino: bigint; generation: number; size: bigint; mtimeNs: bigint; ctimeNs: bigint };
}

export function openRecord(h: Omit<HeaderFields, 'type'>, path: string | Buffer, dir: string | Buffer, o: OpenFields = {}): Buffer {
  const p = buf(path);
  const d = buf(dir);
  const k = buf(o.kpath ?? '');
  const data = 152; // offsetof(struct open_event, data)
  const b = Buffer.alloc(round8(data + p.length + d.length + k.length));
  header(b, { ...h, type: 4 });
  b.writeInt32LE(o.result ?? 3, 80);
  b.writeUInt32LE(o.flags ?? 0, 84);
  b.writeUInt32LE(o.mode ?? 0, 88);
  b.writeInt32LE(o.dirfd ?? -100, 92);
  b.writeUInt16LE(p.length, 96);
  b.writeUInt16LE(d.length, 98);
  b.writeUInt16LE(o.syscallNr ?? 257, 100);
  b.writeUInt16LE(k.length, 102);
  if (o.opened) {
    b.writeUInt32LE(o.opened.dev, 104);
    b.writeUInt32LE(o.opened.mode, 108);
    b.writeBigUInt64LE(o.opened.ino, 112);
    b.writeUInt32LE(o.opened.generation, 120);
    b.writeBigUInt64LE(o.opened.size, 128);
    b.writeBigUInt64LE(o.opened.mtimeNs, 136);
    b.writeBigUInt64LE(o.opened.ctimeNs, 144);
  }
  p.copy(b, data);
  d.copy(b, data + p.length);
  k.copy(b, data + p.length + d.length);
  return b;
}

export interface ConnectFields {
  result?: number; fd?: number; family: number; port?: number; protocol?: number; sockType?: number;
  flags?: number; addr?: number[]; unixPath?: Buffer;
}

export function connectRecord(h: Omit<HeaderFields, 'type'>, c: ConnectFields): Buffer {
  const b = Buffer.alloc(232);
  header(b, { ...h, type: 5 });
  b.writeInt32LE(c.result ?? 0, 80);
  b.writeInt32LE(c.fd ?? 3, 84);
  b.writeUInt16LE(c.family, 88);
  b.writeUInt16LE(c.port ?? 0, 90);
  b.writeUInt16LE(c.protocol ?? 0, 92);
  b.writeUInt16LE(c.sockType ?? 1, 94);
  b.writeUInt32LE(c.flags ?? 0, 96);
  b.writeUInt32LE(c.unixPath?.length ?? 0, 100);
  Buffer.from(c.addr ?? []).copy(b, 104);
  c.unixPath?.copy(b, 120);
  return b;
}

export function unlinkRecord(h: Omit<HeaderFields, 'type'>, path: string | Buffer, dir: string | Buffer, result = 0, flags = 0): Buffer {
  const p = buf(path);
  const d = buf(dir);
  const b = Buffer.alloc(round8(96 + p.length + d.length));
  header(b, { ...h, type: 6 });
  b.writeInt32LE(result, 80);
  b.writeUInt32LE(flags, 84);
  b.writeUInt16LE(p.length, 88);
  b.writeUInt16LE(d.length, 90);
  b.writeUInt32LE(87, 92);
  p.copy(b, 96);
  d.copy(b, 96 + p.length);
  return b;
}

/** type 7 = rename, 8 = link */
export function renameRecord(
  h: Omit<HeaderFields, 'type'>, type: 7 | 8, path: string, dir: string, newpath: string, newdir: string, flags = 0, result = 0,
): Buffer {
  const parts = [path, dir, newpath, newdir].map((s) => Buffer.from(s));
  const b = Buffer.alloc(round8(104 + parts.reduce((n, p) => n + p.length, 0)));
  header(b, { ...h, type });
  b.writeInt32LE(result, 80);
  b.writeUInt32LE(flags, 84);
  parts.forEach((p, i) => b.writeUInt16LE(p.length, 88 + 2 * i));
  b.writeUInt32LE(82, 96);
  Buffer.concat(parts).copy(b, 104);
  return b;
}

/** flags: DNSF_* (1 = a response received) */
export function dnsRecord(h: Omit<HeaderFields, 'type'>, payload: Buffer, addr = [127, 0, 0, 53], port = 53, family = 2, flags = 0): Buffer {
  const b = Buffer.alloc(round8(112 + payload.length));
  header(b, { ...h, type: 9 });
  b.writeInt32LE(5, 80);
  b.writeUInt16LE(family, 84);
  b.writeUInt16LE(port, 86);
  Buffer.from(addr).copy(b, 88);
  b.writeUInt32LE(payload.length, 104);
  b.writeUInt32LE(flags, 108);
  payload.copy(b, 112);
  return b;
}

/** A minimal DNS query packet (one question, class IN). */
export function dnsQuery(name: string, qtype = 1, id = 0x1234): Buffer {
  const labels = name.split('.').filter(Boolean).flatMap((l) => [Buffer.from([l.length]), Buffer.from(l)]);
  const head = Buffer.alloc(12);
  head.writeUInt16BE(id, 0);
  head.writeUInt16BE(0x0100, 2); // RD
  head.writeUInt16BE(1, 4); // QDCOUNT
  const tail = Buffer.alloc(4);
  tail.writeUInt16BE(qtype, 0);
  tail.writeUInt16BE(1, 2);
  return Buffer.concat([head, ...labels, Buffer.from([0]), tail]);
}

export { HDR as EVENT_HEADER_SIZE };
