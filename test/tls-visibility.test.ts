// Whether an agent's TLS plaintext can be seen: OpenSSL's SSL_write/SSL_read
// exported by its executable (Node) or by a libssl it maps, read from the
// ELF dynamic symbol table without throwing on malformed files.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { exportedSslSymbols, tlsVisibilityOf } from '../sensor/tls/ssl-symbols.js';

const work = mkdtempSync(join(tmpdir(), 'tls-visibility-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const LIBSSL = ['/usr/lib/x86_64-linux-gnu/libssl.so.3', '/usr/lib/aarch64-linux-gnu/libssl.so.3'].find(existsSync);

describe('TLS visibility', () => {
  it('Node exports all four from its own binary; coreutils none', () => {
    expect(exportedSslSymbols(process.execPath)).toEqual(['SSL_write', 'SSL_write_ex', 'SSL_read', 'SSL_read_ex']);
    expect(exportedSslSymbols('/bin/ls')).toEqual([]);
    expect(tlsVisibilityOf(process.pid)).toMatchObject({ visible: true });
  });

  it.skipIf(!LIBSSL || process.getuid?.() !== 0)('a process that maps libssl is visible through the library', async () => {
    expect(exportedSslSymbols(LIBSSL!)).toEqual(['SSL_write', 'SSL_write_ex', 'SSL_read', 'SSL_read_ex']);
    // Python's ssl module maps the system libssl (it does not carry OpenSSL itself).
    const child = spawn('python3', ['-c', 'import ssl, sys; print("up", flush=True); sys.stdin.read()'], { stdio: ['pipe', 'pipe', 'ignore'] });
    try {
      await new Promise<void>((ok, fail) => {
        child.stdout!.once('data', () => ok());
        child.once('error', fail);
        child.once('exit', () => fail(new Error('python3 exited early')));
      });
      const v = tlsVisibilityOf(child.pid!);
      expect(v.visible).toBe(true);
      expect(v.targets.map((t) => t.path)).toContain(LIBSSL);
      expect(v.targets.some((t) => t.path.endsWith('/exe'))).toBe(false);
    } finally {
      child.kill();
    }
  });

  it('malformed, truncated, non-ELF and special files are "no symbols"', () => {
    const node = readFileSync(process.execPath);
    const cases: Buffer[] = [Buffer.alloc(0), Buffer.from('#!/bin/sh\necho\n'), node.subarray(0, 64), node.subarray(0, 4096), Buffer.concat([node.subarray(0, 0x28), Buffer.alloc(8, 0xff), node.subarray(0x30, 4096)])];
    cases.forEach((b, i) => {
      const p = join(work, `bad${i}`);
      writeFileSync(p, b);
      expect(exportedSslSymbols(p)).toEqual([]);
    });
    expect(exportedSslSymbols('/dev/zero')).toEqual([]);
    expect(exportedSslSymbols(join(work, 'missing'))).toEqual([]);
    expect(tlsVisibilityOf(2 ** 22 + 1)).toEqual({ targets: [], visible: false });
  });
});
