// A tool call as the join sees it: what it would make the system do (a shell
// script to exec, or a file to open), when, and for which agent instance.
import { createHash } from 'node:crypto';
import { isAbsolute, normalize, resolve } from 'node:path';
import { isRecord, type ModelTurn, type ToolCall } from '../turn.js';
import { shellIntentOf, type ShellIntent } from './shell-command.js';

export interface IntentCall {
  /** unique per call: source, session and the provider's call id (or a digest) */
  key: string;
  toolName: string;
  tsMs: number;
  agent?: string;
  /** root pid of the agent instance, when known (events carry agentPid) */
  agentPid?: number;
  shell?: ShellIntent;
  filePath?: string;
  fileAccess?: 'read' | 'write';
  /** the command or path shown on the timeline (never the whole arguments) */
  subject: string;
  /** SHA-256 of the arguments text: identifies them without keeping them */
  argumentsSha256: string;
  source: ModelTurn['source'];
  provider: string;
  model?: string;
  callId?: string;
  sessionId?: string;
}

const FILE_KEYS = ['file_path', 'absolute_path', 'path', 'filePath', 'filename', 'target_file', 'notebook_path'];
const WRITE_TOOL = /write|edit|create|patch|replace|insert|append|save|delete|remove|move/i;
const FILE_TOOL = /read|write|edit|create|view|open|cat|file|patch|replace|insert|append/i;

export interface CallContext {
  tsMs: number;
  agent?: string;
  agentPid?: number;
  /** the user's home, for ~ in commands and paths */
  home?: string;
  /** the agent's working directory, for relative paths */
  cwd?: string;
}

/** The join's view of one tool call of a turn; undefined when it acts on nothing the sensor sees. */
export function intentCallOf(turn: ModelTurn, call: ToolCall, ctx: CallContext): IntentCall | undefined {
  const sha = createHash('sha256').update(call.arguments).digest('hex');
  const key = `${turn.source}:${turn.sessionId ?? ''}:${call.id ?? sha.slice(0, 16)}`;
  const base = {
    key, toolName: call.name, tsMs: ctx.tsMs, argumentsSha256: sha, source: turn.source, provider: turn.provider,
    ...(ctx.agent ? { agent: ctx.agent } : {}), ...(ctx.agentPid !== undefined ? { agentPid: ctx.agentPid } : {}),
    ...(turn.model ? { model: turn.model } : {}), ...(call.id ? { callId: call.id } : {}), ...(turn.sessionId ? { sessionId: turn.sessionId } : {}),
  };
  const shell = shellIntentOf(call);
  if (shell) return { ...base, shell, subject: shell.script.slice(0, 512) };
  const input = isRecord(call.input) ? call.input : undefined;
  if (!input || !FILE_TOOL.test(call.name)) return undefined;
  const raw = FILE_KEYS.map((k) => input[k]).find((v): v is string => typeof v === 'string' && v !== '');
  if (!raw || raw.length > 4096 || raw.includes('\0')) return undefined;
  const path = absolutePath(raw, ctx);
  if (!path) return undefined;
  return { ...base, filePath: path, fileAccess: WRITE_TOOL.test(call.name) ? 'write' : 'read', subject: raw };
}

function absolutePath(raw: string, ctx: CallContext): string | undefined {
  let p = raw;
  if (p === '~' || p.startsWith('~/')) {
    if (!ctx.home) return undefined;
    p = ctx.home + p.slice(1);
  }
  if (!isAbsolute(p)) {
    if (!ctx.cwd) return undefined;
    p = resolve(ctx.cwd, p);
  }
  return normalize(p);
}
