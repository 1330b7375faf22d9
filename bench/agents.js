#!/usr/bin/env node
// What an agent session pays for `sensor run` (issue 17): real agent CLIs
// from npm, each driven through a benign coding session by a scripted model
// server on loopback that answers at once (so the session is CPU-bound, the
// harsh case), timed without and with `sensor run` (built-in agent list,
// detectors, DLP and egress content capture: all on by default) in
// interleaved pairs (the order alternates inside each pair).
//   qwen-code: @qwen-code/qwen-code (Node), Chat Completions
//   codex:     @openai/codex's native binary (Rust), Responses API
// A session lists the project, reads a file, runs a shell command, writes a
// file with a marker of its own, then answers. It counts only if all of that
// happened: exit 0, the final answer printed, the tool results seen by the
// model server (listing, content, command output) and the file written.
// Per agent: median wall ratio and its spread over pairs; the CPU seconds of
// the sensor process (all threads, and its content-ctl child) per session,
// while the session ran and until it was idle again (deferred work is still
// work); the agent's own CPU seconds (its process tree, from the bench's
// cutime) without and with; events stored per session; loss counters.
// Not a test. Needs root and the built tree; installs the agents on first use
// into node_modules/.cache (test/helpers/real-agent.ts).
// Each `with` session runs under a sensor started for its pair that has
// already watched --warm N unmeasured sessions (default 2: a service runs for
// days, its JIT is warm, its first-time work done); --cold measures the first
// session instead. Every session of an agent uses the same home (a user's),
// in a new project; BENCH_FRESH_HOME=1 gives each session a new home (the
// agent's first run on the machine, every time).
// Usage: node bench/agents.js [--pairs N] [--agents qwen-code,codex] [--warm N] [--cold] [--json]
//   (env BENCH_PAIRS, BENCH_AGENTS, BENCH_WARM; BENCH_QUICK=1: 2 pairs)
// Finding where the time goes: BENCH_SENSOR_ARGS (more `sensor run` flags),
// BENCH_SENSOR_NODE_ARGS (node flags, e.g. --cpu-prof), BENCH_SENSOR_PERF=DIR
// (perf record, at BENCH_PERF_HZ), BENCH_SENSOR_STDOUT/STDERR=FILE (its
// output, e.g. --trace-gc), BENCH_SENSOR_FREEZE=1 (its user space stopped
// during the measured session: what the kernel's share alone costs), BENCH_STATE_DIR
// (where the sensor keeps its store, e.g. a tmpfs to take fsyncs out), BENCH_BPF_STATS=1 (the kernel's
// time in each of the sensor's BPF programs during the measured sessions; the accounting costs two clock
// reads per program run, so the wall ratios of such a run are not the figures).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { appendFileSync, openSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildSync } from 'esbuild';
import { accumulate, delta, enableBpfStats, format, programIdsOf, snapshot } from './bpf-stats.js';

const ROOT = new URL('..', import.meta.url).pathname.replace(/\/$/, '');
const BIN = join(ROOT, 'bin/sensor.js');
const { values: flags } = parseArgs({ options: { pairs: { type: 'string' }, agents: { type: 'string' }, json: { type: 'boolean' }, cold: { type: 'boolean' }, warm: { type: 'string' } } });
// Sessions a `with` sensor watches before the measured one (a service's JIT has long been warm); --cold: none.
const WARM_SESSIONS = flags.cold ? 0 : Math.max(0, Number(flags.warm ?? process.env.BENCH_WARM ?? 2));
const PAIRS = Math.max(1, Number(flags.pairs ?? process.env.BENCH_PAIRS ?? (process.env.BENCH_QUICK === '1' ? 2 : 5)));
const AGENTS = (flags.agents ?? process.env.BENCH_AGENTS ?? 'qwen-code,codex').split(',').filter(Boolean);
const SESSION_TIMEOUT_MS = 120_000;
const IDLE_TIMEOUT_MS = 60_000;
const BENCH_DEADLINE_MS = 40 * 60_000; // every loop below is bounded in count; this bounds the whole in time
const FINAL = 'DONE-BENCH-SESSION';
const started = Date.now();

if (process.getuid?.() !== 0) {
  console.log('agents bench: skipped (needs root to load BPF)');
  process.exit(0);
}
if (!existsSync(join(ROOT, 'dist/sensor/cli/main.js'))) {
  console.log('agents bench: skipped (dist/ not built: bash scripts/build.sh)');
  process.exit(0);
}

const BPF_STATS = process.env.BENCH_BPF_STATS === '1';
if (BPF_STATS) process.on('exit', enableBpfStats());
const WORK = mkdtempSync(join(tmpdir(), 'agent-sensor-agents-bench-'));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const range = (xs, d = 2) => `${Math.min(...xs).toFixed(d)}–${Math.max(...xs).toFixed(d)}`;
const overDeadline = () => Date.now() - started > BENCH_DEADLINE_MS;

/** The TypeScript test helpers (agent install, scripted model server), bundled for node. */
async function loadHelpers() {
  const entry = join(WORK, 'helpers-entry.ts');
  const out = join(WORK, 'helpers.mjs');
  buildSync({
    stdin: {
      contents: `export * from ${JSON.stringify(join(ROOT, 'test/helpers/real-agent.ts'))};\n` +
        `export * from ${JSON.stringify(join(ROOT, 'test/helpers/scripted-model-server.ts'))};\n`,
      resolveDir: ROOT, sourcefile: entry, loader: 'ts',
    },
    bundle: true, platform: 'node', format: 'esm', outfile: out, logLevel: 'warning',
    define: { 'import.meta.dirname': JSON.stringify(join(ROOT, 'test/helpers')) },
  });
  return import(out);
}

// ---- CPU accounting from /proc ----------------------------------------------

const TICK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** utime+stime (s) and comm of /proc/<pid>/stat or a task's stat; null if gone. */
function statOf(path) {
  try {
    const s = readFileSync(path, 'utf8');
    const close = s.lastIndexOf(')');
    const f = s.slice(close + 2).split(' ');
    return { comm: s.slice(s.indexOf('(') + 1, close), ppid: Number(f[1]), cpu: (Number(f[11]) + Number(f[12])) / TICK, childCpu: (Number(f[13]) + Number(f[14])) / TICK };
  } catch {
    return null;
  }
}

function childrenOf(pid) {
  const out = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const s = statOf(`/proc/${d}/stat`);
    if (s?.ppid === pid) out.push(Number(d));
  }
  return out;
}

/**
 * CPU seconds of the sensor process (every thread, dead ones included, as
 * /proc/PID/stat sums them), by thread name from /proc/PID/task/*, plus its
 * children (content-ctl).
 */
function sensorCpu(pid) {
  const total = statOf(`/proc/${pid}/stat`);
  if (!total) return null;
  const byThread = {};
  try {
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      const s = statOf(`/proc/${pid}/task/${t}/stat`);
      const name = Number(t) === pid ? 'main' : s?.comm;
      if (s) byThread[name] = (byThread[name] ?? 0) + s.cpu;
    }
  } catch {
    // exiting
  }
  let children = 0;
  for (const c of childrenOf(pid)) children += statOf(`/proc/${c}/stat`)?.cpu ?? 0;
  return { process: total.cpu, children, total: total.cpu + children, byThread };
}

const diffThreads = (a, b) => Object.fromEntries(Object.keys(b).map((k) => [k, b[k] - (a[k] ?? 0)]).filter(([, v]) => v > 0.005));

/**
 * Waits until the sensor has done everything a session gave it: nothing
 * unacked at the sensor, no file waiting to be hashed or written, the event
 * count steady, and its CPU growing by under 20 ms a second. Bounded in time.
 * (CPU alone is not enough: work below the agents' priority can wait while
 * the machine is busy.)
 */
async function untilIdle(s) {
  const deadline = Date.now() + IDLE_TIMEOUT_MS;
  let last = sensorCpu(s.child.pid)?.total ?? 0;
  let events = -1;
  while (Date.now() < deadline) {
    await sleep(1000);
    const st = status(s.socket);
    const now = sensorCpu(s.child.pid)?.total ?? 0;
    const c = st.collector?.counters ?? {};
    const waiting = (st.sensors ?? []).some((x) => (x.transport?.buffered ?? 0) > 0) || (st.store?.hashQueue ?? 0) > 0 ||
      (c.deferredHashWrites ?? 0) > 0 || (c.deferredHashJobs ?? 0) > 0;
    if (!waiting && st.store?.events === events && now - last < 0.02) return true;
    events = st.store?.events ?? -1;
    last = now;
  }
  return false;
}

/** The bench's own children's CPU (a session's whole process tree, once waited for). */
const reapedCpu = () => statOf('/proc/self/stat').childCpu;

// ---- sensor run ---------------------------------------------------------------

async function startSensor(stateDir) {
  const socket = join(stateDir, 'c.sock');
  mkdirSync(stateDir, { recursive: true });
  // No agent flags: the built-in list. Detection, DLP and content capture are on unless turned off.
  // BENCH_SENSOR_NODE_ARGS: node flags for the sensor (e.g. --cpu-prof --cpu-prof-dir=DIR, to see where its time goes)
  const nodeArgs = (process.env.BENCH_SENSOR_NODE_ARGS ?? '').split(' ').filter(Boolean);
  // BENCH_SENSOR_ARGS: more `sensor run` flags, to see what costs what (e.g. --no-content-capture, --no-detect)
  const extra = (process.env.BENCH_SENSOR_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, BIN, 'run', '--state-dir', stateDir, '--listen', `unix://${socket}`, '--stats-every', '0', ...extra],
    { stdio: ['ignore', process.env.BENCH_SENSOR_STDOUT ? openSync(process.env.BENCH_SENSOR_STDOUT, 'a') : 'ignore', 'pipe'] });
  if (process.env.BENCH_SENSOR_STDERR) child.stderr.on('data', (d) => appendFileSync(process.env.BENCH_SENSOR_STDERR, d));
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const deadline = Date.now() + 120_000;
  while (!err.includes('sensor running')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`sensor run did not start:\n${err.slice(-3000)}`);
    await sleep(100);
  }
  if (!extra.includes('--no-content-capture') && !err.includes('egress content capture on')) throw new Error(`content capture did not start:\n${err.slice(-3000)}`);
  const s = { child, socket, err: () => err };
  await untilIdle(s); // start-up work (program load, uprobes) is not the session's
  return s;
}

/**
 * BENCH_SENSOR_PERF=DIR: `perf record` of the sensor process (all threads)
 * from session start until idle, one file per pair; with
 * BENCH_SENSOR_NODE_ARGS=--perf-basic-prof its JS frames have names.
 */
function startPerf(pid, pair) {
  const dir = process.env.BENCH_SENSOR_PERF;
  if (!dir) return undefined;
  mkdirSync(dir, { recursive: true });
  const child = spawn('perf', ['record', '-q', '-F', process.env.BENCH_PERF_HZ ?? '499', '-g', '-p', String(pid), '-o', join(dir, `sensor-pair${pair + 1}.perf.data`)], { stdio: 'ignore' });
  child.on('error', (err) => console.error(`perf: ${err.message}`));
  return child;
}

async function stopPerf(child) {
  if (!child || child.exitCode !== null) return;
  child.kill('SIGINT');
  await new Promise((r) => child.once('exit', r));
}

async function stopSensor(s) {
  s.child.kill('SIGINT');
  const t = setTimeout(() => s.child.kill('SIGKILL'), 30_000);
  await new Promise((r) => (s.child.exitCode !== null ? r() : s.child.once('exit', r)));
  clearTimeout(t);
}

/** `sensor status --json` (exit 1 when degraded: still a report). */
function status(socket) {
  const r = spawnSync(process.execPath, [BIN, 'status', '--collector', `unix://${socket}`, '--json'], { encoding: 'utf8', timeout: 60_000 });
  try {
    return JSON.parse(r.stdout);
  } catch {
    throw new Error(`sensor status gave no report (exit ${r.status}): ${r.stderr}`);
  }
}

// ---- sessions -----------------------------------------------------------------

function project(dir, helpers) {
  helpers.makeProject(dir);
  return dir;
}

/** The script of a session and what its results must show, per agent. */
function plan(agent, dir, marker) {
  const notes = join(dir, 'NOTES.md');
  const content = `notes ${marker}\n`;
  if (agent === 'qwen-code') {
    return {
      notes, content,
      steps: [
        { toolCall: { name: 'list_directory', arguments: { path: dir } } },
        { toolCall: { name: 'read_file', arguments: { file_path: join(dir, 'src/app.py') } } },
        { toolCall: { name: 'run_shell_command', arguments: { command: 'wc -l src/app.py && grep -c print src/app.py', description: 'count lines' } } },
        { toolCall: { name: 'write_file', arguments: { file_path: notes, content } } },
        { text: FINAL },
      ],
    };
  }
  const exec = (cmd) => ({ toolCall: { name: 'exec_command', arguments: { cmd, yield_time_ms: 5000 } } });
  return {
    notes, content,
    steps: [exec('ls -la src'), exec('cat src/app.py'), exec('wc -l src/app.py && grep -c print src/app.py'), exec(`printf 'notes ${marker}\\n' > NOTES.md`), { text: FINAL }],
  };
}

function argvOf(agent, bin, server) {
  if (agent === 'qwen-code') return [process.execPath, bin, '-p', 'Look around the project, count the lines of src/app.py and write NOTES.md.', '--yolo'];
  return bin.codexArgs(server.baseUrl, 'Look around the project, count the lines of src/app.py and write NOTES.md.');
}

async function session(agent, agentBin, helpers, server, n) {
  const dir = join(WORK, `${agent}-${n}`);
  // One home per agent for the whole bench, as a user has: a session is the agent's usual
  // work in a new project, not its first run on the machine (which unpacks its own files:
  // Codex writes ~80 files, 1.7 MB, into a new CODEX_HOME). BENCH_FRESH_HOME=1: a new home per session.
  const home = process.env.BENCH_FRESH_HOME === '1' ? join(dir, 'home') : join(WORK, `${agent}-home`);
  const proj = project(join(dir, 'project'), helpers);
  mkdirSync(join(home, '.codex'), { recursive: true });
  const marker = `m${n}-${Math.random().toString(36).slice(2, 10)}`;
  const p = plan(agent, proj, marker);
  server.script(p.steps);
  const before = server.requests.length;
  const argv = argvOf(agent, agentBin, server);
  const cpu0 = reapedCpu();
  const own0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const child = spawn(argv[0], argv.slice(1), {
    cwd: proj, stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, TERM: 'dumb', NO_COLOR: '1',
      OPENAI_API_KEY: 'scripted', OPENAI_BASE_URL: server.baseUrl, OPENAI_MODEL: 'scripted-model',
      CODEX_HOME: join(home, '.codex'), SCRIPTED_API_KEY: 'scripted',
    },
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const killer = setTimeout(() => child.kill('SIGKILL'), SESSION_TIMEOUT_MS);
  const code = await new Promise((r) => child.once('close', (c) => r(c)));
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  clearTimeout(killer);
  const agentCpu = reapedCpu() - cpu0;
  const own = process.cpuUsage(own0);
  const serverCpu = (own.user + own.system) / 1e6; // the scripted model server (this process): a sensor must not slow it either
  // Did it really do the work? The tool results the model was sent, and the file.
  const mine = server.requests.slice(before);
  const last = JSON.stringify(mine[mine.length - 1] ?? {});
  const problems = [];
  if (code !== 0) problems.push(`exit ${code}`);
  if (!out.includes(FINAL)) problems.push('no final answer');
  if (!last.includes('app.py')) problems.push('no listing in the tool results');
  if (!last.includes('print(')) problems.push('no file content in the tool results');
  if (!/4 src\/app\.py/.test(last)) problems.push('no command output in the tool results');
  if (!existsSync(p.notes) || readFileSync(p.notes, 'utf8') !== p.content) problems.push('NOTES.md not written');
  if (problems.length) throw new Error(`${agent} session ${n} did not do its work (${problems.join(', ')}):\n${out.slice(-2000)}`);
  rmSync(dir, { recursive: true, force: true });
  return { wallS, agentCpu, serverCpu, requests: mine.length };
}

// ---- the bench ----------------------------------------------------------------

async function benchAgent(agent, helpers, server) {
  let agentBin;
  if (agent === 'qwen-code') {
    const q = helpers.qwenCodeCli();
    if ('skip' in q) return { agent, skipped: q.skip };
    agentBin = q.cli;
  } else if (agent === 'codex') {
    const c = helpers.codexBinary();
    if ('skip' in c) return { agent, skipped: c.skip };
    agentBin = { codexArgs: (url, prompt) => helpers.codexExecArgs(c.bin, url, prompt) };
  } else {
    return { agent, skipped: `unknown agent ${agent} (qwen-code, codex)` };
  }
  let n = 0;
  await session(agent, agentBin, helpers, server, n++); // warm-up: page cache, first-run files; not counted
  const stateDir = process.env.BENCH_STATE_DIR ? join(process.env.BENCH_STATE_DIR, `state-${agent}`) : join(WORK, `state-${agent}`);
  const pairs = [];
  for (let i = 0; i < PAIRS && !overDeadline(); i++) {
    const pair = {};
    const without = async () => (pair.without = await session(agent, agentBin, helpers, server, n++));
    const withSensor = async () => {
      const s = await startSensor(stateDir);
      try {
        for (let k = 0; k < WARM_SESSIONS; k++) {
          await session(agent, agentBin, helpers, server, n++);
          await untilIdle(s);
        }
        const st0 = status(s.socket);
        const perf = startPerf(s.child.pid, i);
        const c0 = sensorCpu(s.child.pid);
        // BENCH_SENSOR_FREEZE=1: the sensor's user space (and content-ctl) is stopped during the
        // measured session, so the session pays only the kernel's share; what waits is done after.
        const progIds = BPF_STATS ? [s.child.pid, ...childrenOf(s.child.pid)].flatMap(programIdsOf) : [];
        const progs0 = snapshot(progIds);
        const frozen = process.env.BENCH_SENSOR_FREEZE === '1' ? [s.child.pid, ...childrenOf(s.child.pid)] : [];
        for (const pid of frozen) process.kill(pid, 'SIGSTOP');
        const r = await session(agent, agentBin, helpers, server, n++);
        if (BPF_STATS) pair.kernel = delta(progs0, snapshot(progIds));
        for (const pid of frozen) process.kill(pid, 'SIGCONT');
        const c1 = sensorCpu(s.child.pid);
        const idle = await untilIdle(s);
        const c2 = sensorCpu(s.child.pid);
        await stopPerf(perf);
        const st1 = status(s.socket);
        pair.with = {
          ...r,
          sensorCpuDuring: c1.total - c0.total,
          sensorCpuToIdle: c2.total - c0.total,
          idle,
          threads: diffThreads(c0.byThread, c2.byThread),
          contentCtlCpu: c2.children - c0.children,
          events: Number(st1.store?.events ?? 0) - Number(st0.store?.events ?? 0),
          // files read this session: hashed anew, linked to a version hashed before, of those found from the kernel's inode alone
          files: Object.fromEntries(['filesHashed', 'filesLinked', 'filesLinkedByInode'].map((k) => [k, Number(st1.collector?.counters?.[k] ?? 0) - Number(st0.collector?.counters?.[k] ?? 0)])),
          loss: st1.loss,
          deferred: st1.store?.deferred,
          // times the sensor's idle threads were raised to normal priority during the session (background-threads.ts)
          boosts: Number(st1.sensors?.[0]?.priority?.boosts ?? 0) - Number(st0.sensors?.[0]?.priority?.boosts ?? 0),
        };
      } finally {
        await stopSensor(s);
      }
    };
    if (i % 2 === 0) { await without(); await withSensor(); } else { await withSensor(); await without(); }
    pair.ratio = pair.with.wallS / pair.without.wallS;
    pairs.push(pair);
    console.error(`  ${agent} pair ${i + 1}: without ${pair.without.wallS.toFixed(2)} s, with ${pair.with.wallS.toFixed(2)} s, ratio ${pair.ratio.toFixed(3)}; ` +
      `sensor CPU ${pair.with.sensorCpuDuring.toFixed(2)} s during, ${pair.with.sensorCpuToIdle.toFixed(2)} s to idle; ${pair.with.events} events; raised ${pair.with.boosts} times`);
  }
  // The built-in list watches every agent on the machine: a session of another user's agent
  // (on a shared machine) during a measured one shows as many more events. Said, and left
  // out of the sensor CPU figures (not of the wall ratio: the agent paid it).
  if (BPF_STATS) {
    const kernel = new Map();
    for (const p of pairs) if (p.kernel) accumulate(kernel, p.kernel);
    const total = [...kernel.values()].reduce((a, v) => a + v.ns, 0);
    console.error(`  ${agent}: ${(total / 1e6 / pairs.length).toFixed(1)} ms in the sensor's BPF programs per measured session (bpf_stats, summed over ${pairs.length}):\n${format(kernel, '    ')}`);
  }
  const fewest = Math.min(...pairs.map((p) => p.with.events));
  for (const p of pairs) p.with.crowded = p.with.events > 1.5 * fewest;
  const crowded = pairs.filter((p) => p.with.crowded).length;
  const w = pairs.map((p) => p.with).filter((x) => !x.crowded);
  const threads = {};
  for (const x of w) for (const [k, v] of Object.entries(x.threads)) (threads[k] ??= []).push(v);
  return {
    agent, pairs: pairs.length, crowded,
    withoutS: pairs.map((p) => p.without.wallS), withS: w.map((x) => x.wallS), ratios: pairs.map((p) => p.ratio),
    ratioMedian: median(pairs.map((p) => p.ratio)),
    agentCpuWithout: median(pairs.map((p) => p.without.agentCpu)), agentCpuWith: median(pairs.map((p) => p.with.agentCpu)),
    serverCpuWithout: median(pairs.map((p) => p.without.serverCpu)), serverCpuWith: median(pairs.map((p) => p.with.serverCpu)),
    sensorCpuDuring: median(w.map((x) => x.sensorCpuDuring)), sensorCpuToIdle: median(w.map((x) => x.sensorCpuToIdle)),
    contentCtlCpu: median(w.map((x) => x.contentCtlCpu)),
    threads: Object.fromEntries(Object.entries(threads).map(([k, v]) => [k, median(v)])),
    events: median(w.map((x) => x.events)), allIdle: w.every((x) => x.idle),
    files: Object.fromEntries(['filesHashed', 'filesLinked', 'filesLinkedByInode'].map((k) => [k, median(w.map((x) => x.files[k]))])),
    loss: w[w.length - 1]?.loss, deferred: w[w.length - 1]?.deferred,
  };
}

const helpers = await loadHelpers();
const server = await helpers.startScriptedModelServer([]);
const results = [];
try {
  console.log(`agents bench: ${PAIRS} interleaved pairs per agent, sessions CPU-bound (the model answers at once), ` +
    `sensor ${WARM_SESSIONS === 0 ? 'cold (its first session)' : `warm (${WARM_SESSIONS} session${WARM_SESSIONS > 1 ? 's' : ''} watched before)`}, load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
  for (const agent of AGENTS) {
    if (overDeadline()) break;
    const r = await benchAgent(agent, helpers, server);
    results.push(r);
    if (r.skipped) {
      console.log(`${agent}: skipped (${r.skipped})`);
      continue;
    }
    console.log(`${agent}: without ${range(r.withoutS)} s, with sensor run ${range(r.withS)} s; ratio median ${r.ratioMedian.toFixed(3)} (pairs ${range(r.ratios, 3)}), ${r.pairs} pairs`);
    console.log(`  agent CPU (its process tree) ${r.agentCpuWithout.toFixed(2)} s without, ${r.agentCpuWith.toFixed(2)} s with; ` +
      `model server (the bench, node) ${r.serverCpuWithout.toFixed(2)} s without, ${r.serverCpuWith.toFixed(2)} s with; ${Math.round(r.events)} events stored per session`);
    console.log(`  files read per session: ${r.files.filesHashed} hashed, ${r.files.filesLinked} linked to a version hashed before ` +
      `(${r.files.filesLinkedByInode} of them from the kernel's inode alone, no look at the path)`);
    if (r.crowded) console.log(`  ${r.crowded} pair(s) saw another agent's session too (over 1.5x the events): left out of the sensor CPU figures`);
    console.log(`  sensor CPU per session: ${r.sensorCpuDuring.toFixed(2)} s while it ran, ${r.sensorCpuToIdle.toFixed(2)} s until idle${r.allIdle ? '' : ' (not idle within the bound)'}; ` +
      `by thread: ${Object.entries(r.threads).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}; content-ctl ${r.contentCtlCpu.toFixed(2)}`);
    const lost = Object.entries(r.loss ?? {}).filter(([, v]) => typeof v === 'number' && v > 0);
    console.log(`  loss: ${lost.length ? lost.map(([k, v]) => `${k} ${v}`).join(', ') : 'none'}${r.deferred ? `; deferred ${JSON.stringify(r.deferred)}` : ''}`);
  }
  if (flags.json) console.log(JSON.stringify(results));
} finally {
  await server.close();
  rmSync(WORK, { recursive: true, force: true });
}
