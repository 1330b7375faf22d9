// A real agent CLI someone else wrote, for tests: Qwen Code (npm
// @qwen-code/qwen-code, a pinned version that runs on Node 20), driven
// non-interactively against a scripted model server on loopback
// (./scripted-model-server.ts). One session: the model asks it to read a
// project file, then to run a shell command in the project, then answers.
//
// The package (55 MB, bundled, no dependencies) is not a devDependency: it is
// installed on first use into node_modules/.cache (so it goes with the clone
// and `npm ci` stays small), from the npm registry, with --ignore-scripts
// (nothing of it runs as root at install time). No registry: qwenCodeCli()
// says why, and the test skips with that reason.
//
// For the baseline tests (issue 11): run sessions under `sensor launch
// --agent qwen-code` in one project and home to learn, then in another
// project and home; `wrap` is the launch argv, and one ScriptedModelServer
// serves every session on one port.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ScriptedModelServer, ScriptStep } from './scripted-model-server.js';
import { ROOT } from './sensor-cli.js';

export const QWEN_CODE_PACKAGE = '@qwen-code/qwen-code';
/** the newest version in the registry whose engines allow Node 20 */
export const QWEN_CODE_VERSION = '0.15.10';
export const QWEN_AGENT_NAME = 'qwen-code';

const cacheOf = (version: string) => join(ROOT, 'node_modules/.cache/agent-sensor-real-agents', `qwen-code-${version}`);
const INSTALL_TIMEOUT_MS = 300_000;

/** Path of Qwen Code's cli.js, installed on first use; or why it cannot be had. */
export function qwenCodeCli(version = QWEN_CODE_VERSION): { cli: string } | { skip: string } {
  const cache = cacheOf(version);
  const cli = join(cache, 'node_modules', QWEN_CODE_PACKAGE, 'cli.js');
  if (existsSync(cli)) return { cli };
  mkdirSync(cache, { recursive: true });
  const r = spawnSync('npm', ['install', '--prefix', cache, '--no-audit', '--no-fund', '--ignore-scripts', '--no-package-lock',
    `${QWEN_CODE_PACKAGE}@${version}`], { encoding: 'utf8', timeout: INSTALL_TIMEOUT_MS });
  if (r.status !== 0 || !existsSync(cli)) {
    const why = r.error?.message ?? (r.stderr || '').trim().split('\n').filter(Boolean).pop() ?? `exit ${r.status}`;
    return { skip: `cannot install ${QWEN_CODE_PACKAGE}@${version} from the npm registry: ${why}` };
  }
  return { cli };
}

export const CODEX_PACKAGE = '@openai/codex';
/** a recent release; it speaks the Responses API only (wire_api "chat" is gone) */
export const CODEX_VERSION = '0.171.0';
export const CODEX_AGENT_NAME = 'codex';
const CODEX_TRIPLE: Partial<Record<string, string>> = { x64: 'x86_64-unknown-linux-musl', arm64: 'aarch64-unknown-linux-musl' };

/**
 * Path of Codex's native binary (Rust, static musl), installed on first use
 * like Qwen Code's. `@openai/codex` is a small node launcher whose platform
 * binary comes as an optional dependency (`npm:@openai/codex@<ver>-linux-x64`,
 * ~400 MB unpacked); the binary is run directly, so the agent is native and
 * no node process sits in front of it.
 */
export function codexBinary(version = CODEX_VERSION): { bin: string } | { skip: string } {
  const triple = CODEX_TRIPLE[process.arch];
  if (process.platform !== 'linux' || !triple) return { skip: `no Codex binary for ${process.platform}-${process.arch}` };
  const cache = join(ROOT, 'node_modules/.cache/agent-sensor-real-agents', `codex-${version}`);
  const bin = join(cache, 'node_modules', `${CODEX_PACKAGE}-linux-${process.arch}`, 'vendor', triple, 'bin', 'codex');
  if (existsSync(bin)) return { bin };
  mkdirSync(cache, { recursive: true });
  const r = spawnSync('npm', ['install', '--prefix', cache, '--no-audit', '--no-fund', '--ignore-scripts', '--no-package-lock',
    `${CODEX_PACKAGE}@${version}`], { encoding: 'utf8', timeout: INSTALL_TIMEOUT_MS });
  if (r.status !== 0 || !existsSync(bin)) {
    const why = r.error?.message ?? (r.stderr || '').trim().split('\n').filter(Boolean).pop() ?? `exit ${r.status}`;
    return { skip: `cannot install ${CODEX_PACKAGE}@${version} (and its linux-${process.arch} binary) from the npm registry: ${why}` };
  }
  return { bin };
}

/**
 * `codex exec` against the scripted server: a provider of our own whose
 * base_url is the server (Responses wire API), a CODEX_HOME of its own (no
 * login, no user config), no sandbox and no approvals (headless; the project
 * is a scratch directory), no git repository needed.
 */
export function codexExecArgs(bin: string, baseUrl: string, prompt: string): string[] {
  return [bin, 'exec', '--skip-git-repo-check', '--dangerously-bypass-approvals-and-sandbox', '--color', 'never',
    '-m', 'scripted-model',
    '-c', 'model_provider="scripted"',
    '-c', `model_providers.scripted={ name = "scripted", base_url = "${baseUrl}", wire_api = "responses", env_key = "SCRIPTED_API_KEY", request_max_retries = 0, stream_max_retries = 0 }`,
    prompt];
}

/** A small Python project: src/app.py and a README. */
export function makeProject(dir: string): string {
  mkdirSync(join(dir, 'src'), { recursive: true });
  writeFileSync(join(dir, 'src', 'app.py'), 'def main():\n    print("hello")\n\nmain()\n');
  writeFileSync(join(dir, 'README.md'), '# demo\n');
  return dir;
}

export interface QwenSessionOptions {
  cli: string;
  server: ScriptedModelServer;
  projectDir: string;
  homeDir: string;
  /** argv run before node and cli.js, e.g. [node, bin/sensor.js, launch, --state-dir, D, --agent, qwen-code, --]; [] runs it directly */
  wrap: string[];
  /** the file the model has it read (default: <project>/src/app.py) */
  readPath?: string;
  /** the shell command the model has it run in the project (default: ls src && wc -l src/app.py) */
  shellCommand?: string;
  /** the whole script instead (its last step the final answer, FINAL_ANSWER) */
  steps?: ScriptStep[];
  timeoutMs?: number;
}

export interface QwenSession {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** pid of the process started (the launcher when wrapped) */
  pid: number;
  /** the file the model had it read, and the shell command it had it run */
  readPath: string;
  shellCommand: string;
  /** chat completion requests this session made */
  modelRequests: number;
}

export const FINAL_ANSWER = 'DONE-SCRIPTED-SESSION';

export async function runQwenSession(o: QwenSessionOptions): Promise<QwenSession> {
  const readPath = o.readPath ?? join(o.projectDir, 'src', 'app.py');
  const shellCommand = o.shellCommand ?? 'ls src && wc -l src/app.py';
  o.server.script(o.steps ?? [
    { toolCall: { name: 'read_file', arguments: { file_path: readPath } } },
    { toolCall: { name: 'run_shell_command', arguments: { command: shellCommand, description: 'count lines' } } },
    { text: FINAL_ANSWER },
  ]);
  mkdirSync(o.homeDir, { recursive: true });
  const before = o.server.requests.length;
  const argv = [...o.wrap, process.execPath, o.cli, '-p', 'Look at src/app.py and tell me how long it is.', '--yolo'];
  const child = spawn(argv[0]!, argv.slice(1), {
    cwd: o.projectDir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: o.homeDir, TERM: 'dumb', NO_COLOR: '1',
      OPENAI_API_KEY: 'scripted', OPENAI_BASE_URL: o.server.baseUrl, OPENAI_MODEL: 'scripted-model',
    },
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const killer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 120_000);
  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once('close', (c, s) => r({ code: c, signal: s })));
  clearTimeout(killer);
  return { code, signal, stdout, stderr, pid: child.pid!, readPath, shellCommand, modelRequests: o.server.requests.length - before };
}

/**
 * The stored events of the instance a wrapped session started: the root is
 * the process exec'd as `agent` by the launcher (session.pid), the rest its
 * descendants by fork events. Complete once every process of it has exited.
 */
export function sessionEvents<E extends { type: string; pid: number; ppid: number }>(all: E[], launcherPid: number, agent: string): { root: number; events: E[]; complete: boolean } {
  const rootExec = all.find((e) => e.type === 'exec' && e.ppid === launcherPid && (e as { agent?: unknown }).agent === agent);
  if (!rootExec) return { root: -1, events: [], complete: false };
  const tree = new Set([rootExec.pid]);
  for (const e of all) if (e.type === 'fork' && tree.has(e.ppid)) tree.add(e.pid);
  const events = all.filter((e) => tree.has(e.pid));
  const complete = [...tree].every((p) => events.some((e) => e.type === 'exit' && e.pid === p));
  return { root: rootExec.pid, events, complete };
}
