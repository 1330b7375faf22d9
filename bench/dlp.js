#!/usr/bin/env node
// `npm run bench` (last step): content DLP and sensitive-path figures.
//  1. precision and recall per DLP class on the test corpus (test/fixtures/dlp/corpus.json);
//  2. DLP throughput (MiB/s, one core) on a generated mixed corpus of bounded size
//     (source, prose, JSON logs, .env files with secrets, base64 blobs, binary),
//     per content type and overall, and the cost per scanned file by size;
//  3. the cost the DLP and the path catalogue add per stored event: classifyPath()
//     per open event, scanContent() per hashed file, a fingerprint-index lookup,
//     and the size of what is stored per finding.
// Needs the built tree (bash scripts/build.sh). BENCH_QUICK=1 for a smaller run.
import { randomBytes, generateKeyPairSync } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { scanContent, FingerprintIndex } from '../dist/collector/dlp/index.js';
import { classifyPath } from '../dist/collector/sensitive/index.js';
import { evaluate, loadCorpus } from '../test/fixtures/dlp/evaluate-corpus.mjs';

const QUICK = process.env.BENCH_QUICK === '1';
const CORPUS_BYTES = (QUICK ? 4 : 16) * 1024 * 1024;
const THIRD_PARTY_FILES = QUICK ? 1000 : 4000;
const KEY = randomBytes(32);
const say = (s) => console.log(s);
const fmt = (n, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

// Deterministic generator (mulberry32), so runs compare.
let seed = 0x5eed1234;
const rnd = () => { seed |= 0; seed = (seed + 0x6d2b79f5) | 0; let t = Math.imul(seed ^ (seed >>> 15), 1 | seed); t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t; return ((t ^ (t >>> 14)) >>> 0) / 4294967296; };
const pick = (a) => a[Math.floor(rnd() * a.length)];
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const rstr = (n, abc = ALNUM) => { let s = ''; for (let i = 0; i < n; i++) s += abc[Math.floor(rnd() * abc.length)]; return s; };
const WORDS = 'the of and to in is that for it with as was on be by this are from at or an have not which but can all were when there their will one has more if out so about what up into them some would other than then do only its time these two may first any like new could our also after use most where made over such'.split(' ');
const IDENTS = 'const let function return await async import export from if else for while value result config options handler request response error index count items path buffer length token user session data event'.split(' ');

const generators = {
  source: (n) => { let s = ''; while (s.length < n) s += `${'  '.repeat(Math.floor(rnd() * 4))}${pick(['const', 'let', 'return', 'if (', 'await'])} ${pick(IDENTS)}${rstr(2)} = ${pick(IDENTS)}.${pick(IDENTS)}(${pick(IDENTS)}, '${pick(WORDS)} ${pick(WORDS)}');\n`; return s.slice(0, n); },
  prose: (n) => { let s = ''; while (s.length < n) s += `${pick(WORDS)}${rnd() < 0.08 ? '.\n' : ' '}`; return s.slice(0, n); },
  'json-log': (n) => { let s = ''; while (s.length < n) s += `${JSON.stringify({ ts: 1700000000000 + Math.floor(rnd() * 1e9), level: pick(['info', 'warn', 'debug']), msg: `${pick(WORDS)} ${pick(WORDS)} ${pick(WORDS)}`, id: `${rstr(8, '0123456789abcdef')}-${rstr(4, '0123456789abcdef')}-4${rstr(3, '0123456789abcdef')}-${rstr(12, '0123456789abcdef')}`, dur: Math.floor(rnd() * 900) })}\n`; return s.slice(0, n); },
  dotenv: (n) => { let s = ''; while (s.length < n) s += pick([`API_KEY=${rstr(32)}\n`, `DEBUG=${pick(['true', 'false'])}\n`, `PORT=${Math.floor(rnd() * 60000)}\n`, `DATABASE_URL=postgres://app@db:5432/${pick(WORDS)}\n`, `SECRET_KEY=${rstr(40)}\n`, `# ${pick(WORDS)} ${pick(WORDS)}\n`]); return s.slice(0, n); },
  base64: (n) => Buffer.from(rstr(Math.ceil(n * 0.75), ALNUM + '+/')).toString('base64').replace(/(.{76})/g, '$1\n').slice(0, n),
  binary: (n) => { const b = Buffer.alloc(n); for (let i = 0; i < n; i++) b[i] = Math.floor(rnd() * 256); return b; },
};
const SIZES = [1024, 4096, 16384, 65536, 262144];

function buildCorpus() {
  const files = [];
  let total = 0;
  const types = Object.keys(generators);
  while (total < CORPUS_BYTES) {
    const type = types[files.length % types.length];
    const size = SIZES[Math.floor(files.length / types.length) % SIZES.length];
    const content = generators[type](size);
    const bytes = typeof content === 'string' ? Buffer.from(content, 'latin1') : content;
    files.push({ type, size, bytes });
    total += bytes.length;
  }
  return files;
}

function time(fn) {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

say(`dlp bench (${QUICK ? 'quick' : 'full'}; ${new Date().toISOString()})`);

// 1. corpus precision / recall
{
  const corpus = loadCorpus();
  const stats = evaluate(corpus, (text) => scanContent(Buffer.from(text, 'utf8'), KEY).findings.map((f) => f.class));
  say(`precision / recall per DLP class on the test corpus (${corpus.length} samples):`);
  for (const [cls, s] of Object.entries(stats)) {
    say(`  ${cls.padEnd(16)} precision ${s.precision.toFixed(2)}  recall ${s.recall.toFixed(2)}  (${s.tp} tp, ${s.fp} fp, ${s.fn} fn; ${s.positives} positives, ${s.negatives} hard negatives)`);
  }
}

// 1b. false alarms on real third-party text: this tree's node_modules (source, docs, JSON),
//     which holds no secret of ours; every finding is printed for a look.
{
  const files = [];
  const walk = (dir, depth) => {
    if (files.length >= THIRD_PARTY_FILES || depth > 8) return;
    let entries;
    try { entries = readdirSync(dir, { withFileTypes: true }); } catch { return; }
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      if (files.length >= THIRD_PARTY_FILES) return;
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p, depth + 1);
      else if (e.isFile() && /\.(?:js|cjs|mjs|ts|json|md|ya?ml)$/.test(e.name)) files.push(p);
    }
  };
  walk(new URL('../node_modules', import.meta.url).pathname, 0);
  let bytes = 0;
  const found = [];
  for (const f of files) {
    const b = readFileSync(f);
    bytes += Math.min(b.length, 1 << 20);
    for (const x of scanContent(b, KEY, { shingles: false }).findings) found.push(`${x.class} ×${x.count} in ${f.slice(f.indexOf('node_modules'))} @${x.offsets[0]}`);
  }
  say(`findings in third-party files (${files.length} files, ${fmt(bytes / 1048576, 1)} MiB of node_modules): ${found.length}`);
  for (const line of found.slice(0, 10)) say(`  ${line}`);
}

// 2. throughput on a mixed corpus, with the probe's shingles (full matching) and without
//    (what a scan costs while the fingerprint index holds no shingles)
{
  const files = buildCorpus();
  const total = files.reduce((n, f) => n + f.bytes.length, 0);
  for (const f of files.slice(0, 12)) scanContent(f.bytes, KEY); // warm-up
  for (const shingles of [true, false]) {
    const byType = new Map();
    const bySize = new Map();
    let findings = 0;
    const secs = time(() => {
      for (const f of files) {
        const t0 = process.hrtime.bigint();
        findings += scanContent(f.bytes, KEY, { shingles }).findings.length;
        const dt = Number(process.hrtime.bigint() - t0) / 1e9;
        const t = byType.get(f.type) ?? { bytes: 0, secs: 0 };
        t.bytes += f.bytes.length; t.secs += dt; byType.set(f.type, t);
        const z = bySize.get(f.size) ?? { n: 0, secs: 0 };
        z.n++; z.secs += dt; bySize.set(f.size, z);
      }
    });
    say(`throughput ${shingles ? 'with' : 'without'} probe shingles: ${fmt(total / 1048576, 1)} MiB in ${files.length} files in ${secs.toFixed(2)} s = ${fmt(total / 1048576 / secs, 1)} MiB/s on one core (${findings} findings)`);
    say(`  by content: ${[...byType].map(([t, v]) => `${t} ${fmt(v.bytes / 1048576 / v.secs, 1)}`).join(', ')} MiB/s`);
    say(`  cost per scanned file: ${[...bySize].sort((a, b) => a[0] - b[0]).map(([size, v]) => `${size / 1024} KiB ${fmt((v.secs / v.n) * 1e3, 2)} ms`).join(', ')}`);
  }
}

// 3. per-event costs
{
  const paths = [];
  for (let i = 0; i < 20000; i++) {
    paths.push(pick([
      `/home/alice/project/src/${pick(IDENTS)}/${pick(IDENTS)}.ts`, `/home/alice/project/node_modules/${pick(IDENTS)}/index.js`,
      '/usr/lib/x86_64-linux-gnu/libc.so.6', `/proc/${1000 + i}/status`, `/proc/${1000 + i}/environ`, '/home/alice/.ssh/id_ed25519',
      '/home/alice/project/.env', '/home/alice/project/.env.example', '/etc/shadow', `/tmp/tmp${rstr(8)}/${pick(IDENTS)}.json`,
      `/home/alice/.config/google-chrome/Default/${pick(['Cookies', 'Preferences', 'History'])}`,
    ]));
  }
  for (const p of paths) classifyPath(p, { home: '/home/alice', pid: 999 }); // warm-up pass
  let hits = 0;
  const passes = [1, 2, 3].map(() => { hits = 0; return time(() => { for (const p of paths) hits += classifyPath(p, { home: '/home/alice', pid: 999 }).length; }); }).sort((a, b) => a - b);
  const secs = passes[1];
  say(`classifyPath: ${fmt((secs / paths.length) * 1e6, 2)} µs per open event, median of 3 passes (${paths.length} paths, ${hits} matches, ${fmt(paths.length / secs)} paths/s)`);

  const index = new FingerprintIndex();
  const pem = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' });
  const pemScan = scanContent(Buffer.from(pem), KEY);
  const tokenScan = scanContent(Buffer.from(`API_KEY=${rstr(32)}\n`), KEY);
  const stored = (s) => Buffer.byteLength(JSON.stringify(s.findings));
  say(`stored per finding (JSON of class, count, offsets, fingerprints): RSA-2048 key ${fmt(stored(pemScan))} B, 32-char API key ${fmt(stored(tokenScan))} B`);
  for (let i = 0; i < 1000; i++) {
    const s = i % 10 === 0 ? scanContent(Buffer.from(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'sec1', format: 'pem' })), KEY) : scanContent(Buffer.from(`TOKEN=${rstr(40)}\n`), KEY);
    for (const f of s.findings) for (const fp of f.fingerprints) index.add(`s${i}`, fp);
  }
  const probe = scanContent(generators.base64(65536).length ? Buffer.from(generators.base64(65536)) : Buffer.alloc(0), KEY).probe;
  const n = 200;
  const msecs = time(() => { for (let i = 0; i < n; i++) index.match(probe); });
  say(`fingerprint match: ${fmt((msecs / n) * 1e6, 1)} µs per 64 KiB base64 file against ${index.size} known secrets (${probe.shingles.size} shingles in the probe)`);
}

// 4. added cost per stored event, on the real store (SQLite, the chain):
//    a) commit: the same agent batches with and without sensitive tagging
//       (classification at commit + the tag rows + one chained row per batch
//       that has tags); 5% of opens are on catalogue paths;
//    b) hashing: the same files hashed with and without the DLP scan (scan
//       of the first 256 KiB, findings row, fingerprint index), per hashed
//       file and per stored event at one hashed file per 10 events.
{
  const { EventStore } = await import('../dist/collector/store/event-store.js');
  const { mkdtempSync, rmSync, writeFileSync, mkdirSync, readlinkSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const mntns = Number(/\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/mnt'))[1]);
  const BATCHES = QUICK ? 100 : 400;
  const PER = 256;
  const mkEvent = (i, path) => ({
    type: 'open', ts: '2026-12-06T00:00:00.000000000Z', tsNs: String(1_800_000_000_000_000_000n + BigInt(i)), pid: 4242, tid: 4242, ppid: 1,
    uid: 0, gid: 0, comm: 'agent', agent: 'bench', agentPid: 4242, cgroupId: '1', netns: 1, mntns, path, flags: 0, mode: 0,
    access: 'read', result: 3, syscall: 'openat',
  });
  const SENSITIVE = ['/root/.ssh/id_ed25519', '/root/.aws/credentials', '/home/alice/.kube/config', '/srv/app/.env', '/etc/shadow'];
  const batches = Array.from({ length: BATCHES }, (_, b) => Array.from({ length: PER }, (_, i) => {
    const n = b * PER + i;
    return mkEvent(n, n % 20 === 0 ? SENSITIVE[n % SENSITIVE.length] : `/home/alice/proj/src/module${n % 997}.ts`);
  }));
  const commitRun = (sensitive) => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-tags-'));
    const store = EventStore.open({ stateDir: dir, hashing: { enabled: false }, synchronous: 'NORMAL', ...(sensitive ? {} : { sensitive: false }) });
    const t0 = process.hrtime.bigint();
    batches.forEach((events, seq) => store.commitBatch({ sensorId: 's', bootId: 'b', seq: BigInt(seq + 1), events }));
    const ns = Number(process.hrtime.bigint() - t0);
    const tags = store.database.prepare('SELECT count(*) FROM sensitive_tags').pluck().get();
    void store.close();
    rmSync(dir, { recursive: true, force: true });
    return { ns, tags };
  };
  commitRun(true); // warm-up
  const runs = [0, 1, 2].map(() => [commitRun(false), commitRun(true)]);
  const median = (xs) => xs.sort((a, b) => a - b)[1];
  const off = median(runs.map((r) => r[0].ns));
  const on = median(runs.map((r) => r[1].ns));
  const events = BATCHES * PER;
  say(`sensitive tagging at commit: ${fmt(off / events / 1000, 2)} -> ${fmt(on / events / 1000, 2)} µs per stored event (+${fmt((on - off) / events / 1000, 2)} µs; ${runs[0][1].tags} of ${events} opens tagged; median of 3, synchronous NORMAL)`);

  // b) DLP in the hashing pass
  const FILES = QUICK ? 200 : 600;
  const filesDir = mkdtempSync(join(tmpdir(), 'bench-dlp-files-'));
  mkdirSync(join(filesDir, 'd'));
  const kinds = Object.keys(generators);
  const paths = [];
  for (let i = 0; i < FILES; i++) {
    const p = join(filesDir, 'd', `f${i}`);
    const size = [1024, 4096, 16384, 65536][i % 4];
    const body = generators[kinds[i % kinds.length]](size);
    writeFileSync(p, i % 50 === 0 ? Buffer.concat([Buffer.from(body), Buffer.from(`\nGITHUB_TOKEN=ghp_${rstr(36)}\n`)]) : body);
    paths.push(p);
  }
  const hashRun = async (dlp) => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-hash-'));
    const store = EventStore.open({ stateDir: dir, synchronous: 'NORMAL', sensitive: false, ...(dlp ? {} : { dlp: false }) });
    const t0 = process.hrtime.bigint();
    for (let b = 0; b < FILES / 50; b++) {
      store.commitBatch({ sensorId: 's', bootId: 'b', seq: BigInt(b + 1), events: paths.slice(b * 50, b * 50 + 50).map((p, i) => mkEvent(b * 50 + i, p)) });
    }
    await store.hashIdle();
    const ns = Number(process.hrtime.bigint() - t0);
    const findings = store.database.prepare('SELECT count(*) FROM file_dlp').pluck().get();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
    return { ns, findings };
  };
  await hashRun(true);
  const h = [];
  for (let i = 0; i < 3; i++) h.push([await hashRun(false), await hashRun(true)]);
  const hOff = median(h.map((r) => r[0].ns));
  const hOn = median(h.map((r) => r[1].ns));
  const perFile = (hOn - hOff) / FILES / 1000;
  say(`DLP in the hashing pass: ${fmt(hOff / FILES / 1000, 1)} -> ${fmt(hOn / FILES / 1000, 1)} µs per hashed file (+${fmt(perFile, 1)} µs; files of 1-64 KiB, ${h[0][1].findings} with findings); ` +
    `+${fmt(perFile / 10, 1)} µs per stored event at one hashed file per 10 events (off the ingest path: the hash queue runs after commit)`);
  rmSync(filesDir, { recursive: true, force: true });
}
