// The TypeScript layout table (sensor/kernel/layout.ts) against the truth the
// compiler wrote: the BTF of the BPF object the sensor loads, plus a probe
// compiled from bpf/events.h alone so every struct and enum is covered even
// when the kernel side does not reference it (yet).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as L from '../sensor/kernel/layout.js';
import { haveTool, readBtf, type BtfLayouts } from './helpers/btf.js';

const ROOT = resolve(import.meta.dirname, '..');
const EVENTS_H = join(ROOT, 'bpf/events.h');
const OBJECT = join(ROOT, 'bpf/.output/sensor.bpf.o');
const RECORDS = ['event_header', 'exec_event', 'fork_event', 'exit_event', 'open_event', 'connect_event',
  'unlink_event', 'rename_event', 'dns_event'];

function expectStructsMatch(btf: BtfLayouts, names: string[]): void {
  for (const name of names) {
    const want = L.STRUCTS[name];
    const got = btf.structs.get(name);
    expect(got, `struct ${name} missing from BTF`).toBeDefined();
    expect({ struct: name, size: got!.size }).toEqual({ struct: name, size: want.size });
    expect(Object.keys(want.fields).sort(), `fields of struct ${name}`).toEqual(Object.keys(got!.fields).sort());
    for (const [field, f] of Object.entries(want.fields)) {
      expect({ field: `${name}.${field}`, ...got!.fields[field] }).toEqual({ field: `${name}.${field}`, ...f });
    }
  }
}

const archInclude = `/usr/include/${execFileSync('gcc', ['-print-multiarch'], { encoding: 'utf8' }).trim()}`;
const canProbe = haveTool('clang') && haveTool('bpftool') && haveTool('cc');
if (!canProbe) console.warn('layout.test: skipping probe checks: clang, cc or bpftool not installed');

describe.skipIf(!canProbe)('layout vs events.h compiled alone', () => {
  const dir = mkdtempSync(join(tmpdir(), 'as-layout-'));

  it('every struct and enum matches the BTF of a probe object', () => {
    const src = join(dir, 'probe.c');
    const decls = Object.keys(L.STRUCTS).map((s, i) => `struct ${s} v${i};`).join('\n');
    writeFileSync(src, `#include "${EVENTS_H}"\n${decls}\nenum event_type e1; enum counter e2;\n`);
    execFileSync('clang', ['-g', '-O2', '-target', 'bpf', `-I${archInclude}`, '-c', src, '-o', join(dir, 'probe.o')]);
    const btf = readBtf(join(dir, 'probe.o'));
    expectStructsMatch(btf, Object.keys(L.STRUCTS));
    const ev = btf.enums.get('event_type')!;
    for (const [k, v] of Object.entries(L.EV)) expect({ k, v: ev[`EV_${k}`] }).toEqual({ k, v });
    const ctr = btf.enums.get('counter')!;
    for (const [k, v] of Object.entries(L.COUNTER)) expect({ k, v: ctr[`COUNTER_${k}`] }).toEqual({ k, v });
  });

  it('#define constants match (host compiler)', () => {
    const names = ['EVF_PENDING', 'EVF_TRUNCATED', 'EVF_PATH_LATE', 'EVF_KPATH_SAME', 'CONNF_DATAGRAM', 'UNLF_RMDIR', 'LNKF_SYMBOLIC',
      'DNSF_RESPONSE', 'RULEF_CANDIDATE', 'COMM_LEN', 'UNIX_PATH_LEN', 'EXE_RULE_LEN'];
    const src = join(dir, 'defs.c');
    writeFileSync(src, `#include <stdio.h>\n#include "${EVENTS_H}"\nint main(void){\n${
      names.map((n) => `printf("%s=%ld\\n", "${n}", (long)(${n}));`).join('\n')}\nreturn 0;}\n`);
    execFileSync('cc', ['-o', join(dir, 'defs'), src]);
    const out = execFileSync(join(dir, 'defs'), { encoding: 'utf8' });
    const got = Object.fromEntries(out.trim().split('\n').map((l) => l.split('=')).map(([k, v]) => [k, Number(v)]));
    const want = Object.fromEntries(names.map((n) => [n, (L as unknown as Record<string, number>)[n]]));
    expect(got).toEqual(want);
  });
});

const haveObject = existsSync(OBJECT) && haveTool('bpftool');
if (!haveObject) console.warn(`layout.test: skipping object check: ${OBJECT} not built (bash scripts/build.sh --native)`);

describe.skipIf(!haveObject)('layout vs the BPF object the sensor loads', () => {
  it('every record struct in the object matches', () => {
    const btf = readBtf(OBJECT);
    const present = Object.keys(L.STRUCTS).filter((r) => btf.structs.has(r));
    expectStructsMatch(btf, present);
    console.log(`layout.test: ${present.length} structs checked in ${OBJECT}: ${present.join(', ')}`);
    // every record the kernel side writes must be there
    for (const r of RECORDS) {
      expect(btf.structs.has(r), `struct ${r} in ${OBJECT}`).toBe(true);
    }
  });
});
