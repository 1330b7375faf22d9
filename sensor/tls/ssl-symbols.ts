// Can the sensor see an agent's TLS plaintext? Only where OpenSSL's
// SSL_write/SSL_read (or the _ex forms) are exported, by a libssl the process
// maps or by its own executable (Node carries OpenSSL and exports them). A
// binary without them (rustls, Bun's or Chrome's stripped BoringSSL, Go's
// crypto/tls) keeps its TLS content out of reach: `sensor agents` and
// `sensor status` say "egress content: not visible" rather than pretend.
//
// Reads only the ELF section headers and the dynamic symbol table, bounded,
// of the very files the process runs: /proc/PID/exe and, for a library,
// /proc/PID/map_files/<range> (the mapped inode, not whatever its path names
// now, so a swapped symlink cannot point the sensor at another file). A
// malformed file is "no symbols", never an exception.
import { closeSync, fstatSync, openSync, readFileSync, readSync, constants } from 'node:fs';

export const SSL_SYMBOLS = ['SSL_write', 'SSL_write_ex', 'SSL_read', 'SSL_read_ex'] as const;
export type SslSymbol = (typeof SSL_SYMBOLS)[number];

const MAX_DYNSYM_BYTES = 64 * 1024 * 1024;

/** The SSL_* entry points a file exports (defined, in .dynsym), or [] when none or not ELF64. */
export function exportedSslSymbols(path: string): SslSymbol[] {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch {
    return [];
  }
  try {
    if (!fstatSync(fd).isFile()) return [];
    return scan(fd);
  } catch {
    return [];
  } finally {
    closeSync(fd);
  }
}

function read(fd: number, offset: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  const got = readSync(fd, buf, 0, length, offset);
  if (got !== length) throw new Error('short read');
  return buf;
}

function scan(fd: number): SslSymbol[] {
  const eh = read(fd, 0, 64);
  if (eh.readUInt32BE(0) !== 0x7f454c46 || eh[4] !== 2 || eh[5] !== 1) return []; // ELF64, little-endian
  const shoff = Number(eh.readBigUInt64LE(0x28));
  const shentsize = eh.readUInt16LE(0x3a);
  const shnum = eh.readUInt16LE(0x3c);
  if (shentsize < 64 || shnum === 0 || shnum > 4096) return [];
  const sh = read(fd, shoff, shentsize * shnum);
  const section = (i: number) => ({
    type: sh.readUInt32LE(i * shentsize + 4),
    offset: Number(sh.readBigUInt64LE(i * shentsize + 0x18)),
    size: Number(sh.readBigUInt64LE(i * shentsize + 0x20)),
    link: sh.readUInt32LE(i * shentsize + 0x28),
    entsize: Number(sh.readBigUInt64LE(i * shentsize + 0x38)),
  });
  const SHT_DYNSYM = 11;
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    if (s.type !== SHT_DYNSYM || s.entsize < 24 || s.link >= shnum) continue;
    const str = section(s.link);
    if (s.size > MAX_DYNSYM_BYTES || str.size > MAX_DYNSYM_BYTES) return [];
    const syms = read(fd, s.offset, s.size);
    const strtab = read(fd, str.offset, str.size);
    const found = new Set<SslSymbol>();
    for (let off = 0; off + 24 <= syms.length; off += s.entsize) {
      const name = syms.readUInt32LE(off);
      const info = syms[off + 4];
      const shndx = syms.readUInt16LE(off + 6);
      if (shndx === 0 || (info & 0xf) !== 2) continue; // defined functions only (STT_FUNC)
      if (name >= strtab.length || strtab[name] !== 0x53) continue; // 'S'
      const end = strtab.indexOf(0, name);
      const text = strtab.toString('latin1', name, end < 0 ? strtab.length : end);
      if ((SSL_SYMBOLS as readonly string[]).includes(text)) found.add(text as SslSymbol);
    }
    return SSL_SYMBOLS.filter((n) => found.has(n));
  }
  return [];
}

export interface TlsVisibility {
  /** where the uprobes would go: the executable and/or the libssl it maps */
  targets: Array<{ path: string; symbols: SslSymbol[] }>;
  visible: boolean;
}

/** Where a running process's OpenSSL entry points are, from /proc/PID/exe and its maps. */
export function tlsVisibilityOf(pid: number): TlsVisibility {
  const targets: TlsVisibility['targets'] = [];
  const exeSyms = exportedSslSymbols(`/proc/${pid}/exe`);
  if (exeSyms.length) targets.push({ path: `/proc/${pid}/exe`, symbols: exeSyms });
  let maps = '';
  try { maps = readFileSync(`/proc/${pid}/maps`, 'latin1'); } catch { /* gone */ }
  const libs = new Map<string, string>(); // path shown -> map_files entry read
  for (const line of maps.split('\n')) {
    const slash = line.indexOf('/');
    if (slash < 0) continue;
    const path = line.slice(slash);
    const range = line.slice(0, line.indexOf(' '));
    if (/\/libssl\.so[.0-9]*$/.test(path) && !libs.has(path)) libs.set(path, `/proc/${pid}/map_files/${range}`);
  }
  for (const [path, mapped] of libs) {
    const symbols = exportedSslSymbols(mapped);
    if (symbols.length) targets.push({ path, symbols });
  }
  return { targets, visible: targets.some((t) => t.symbols.includes('SSL_write') || t.symbols.includes('SSL_write_ex')) };
}
