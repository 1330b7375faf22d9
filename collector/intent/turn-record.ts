// A model turn as it leaves the sensor for the store: what the turn was
// (provider, model, tokens) and, per tool call, what the join and the
// timeline need (name, call id, the subject — the command or path, at most
// 512 characters — and the SHA-256 of the arguments), never the arguments or
// the captured bytes themselves, unless the agent's `keepContent` is on
// (then `content` carries the bounded request and answer text).
import { createHash } from 'node:crypto';
import { intentCallOf, type CallContext, type IntentCall } from './join/intent-call.js';
import { simpleCommands } from './join/shell-command.js';
import type { ModelTurn, ToolCall } from './turn.js';

export const MAX_SUBJECT_CHARS = 512;
/** keepContent: bytes of one turn's content kept (request and answer text) */
export const MAX_KEPT_CONTENT_BYTES = 64 * 1024;

export interface CallRecord {
  /** unique per call: `call:<agentPid>:<provider call id>`, else the source, session and a digest */
  key: string;
  callId?: string;
  toolName: string;
  kind: 'shell' | 'file' | 'other';
  /** the command (shell), the path as asked (file), or the tool name */
  subject: string;
  /** file calls: the absolute path and the access the tool implies */
  filePath?: string;
  fileAccess?: 'read' | 'write';
  argsSha256: string;
  incomplete: boolean;
  /** seen in the request history after it ran (plain sockets: the answer is not captured) */
  echoed?: boolean;
}

export interface TurnRecord {
  sensorId: string;
  tsMs: number;
  agent: string | null;
  agentPid: number | null;
  pid: number | null;
  source: ModelTurn['source'];
  api?: string;
  provider: string;
  model?: string;
  responseModel?: string;
  inputTokens?: number;
  outputTokens?: number;
  incomplete: boolean;
  /**
   * every tool call of the turn was there to see: a session file's turn, or
   * a captured answer seen whole (not a request alone: plain sockets)
   */
  callsVisible: boolean;
  remote?: string;
  sessionId?: string;
  calls: CallRecord[];
  /** keepContent only: the captured text of the turn, bounded */
  content?: string;
}

export interface TurnContext extends CallContext {
  sensorId: string;
  pid?: number;
  remote?: string;
}

/** The record of one call; the arguments stay behind (their digest travels). */
export function callRecordOf(turn: ModelTurn, call: ToolCall, ctx: CallContext, echoed = false): CallRecord {
  const intent = intentCallOf(turn, call, ctx);
  const sha = createHash('sha256').update(call.arguments).digest('hex');
  // The same call shows more than once (the answer, the request that returns
  // its result, the agent's session file): one key per agent instance and
  // provider call id, whichever source told it first.
  const owner = ctx.agentPid ?? ctx.agent;
  const key = call.id && owner !== undefined ? `call:${owner}:${call.id}` : intent?.key ?? `${turn.source}:${turn.sessionId ?? ''}:${call.id ?? sha.slice(0, 16)}`;
  const base = { key, toolName: call.name.slice(0, 256), argsSha256: sha, incomplete: call.incomplete === true, ...(call.id ? { callId: call.id.slice(0, 256) } : {}), ...(echoed ? { echoed } : {}) };
  if (intent?.shell) return { ...base, kind: 'shell', subject: intent.subject.slice(0, MAX_SUBJECT_CHARS) };
  if (intent?.filePath) return { ...base, kind: 'file', subject: intent.subject.slice(0, MAX_SUBJECT_CHARS), filePath: intent.filePath, fileAccess: intent.fileAccess };
  return { ...base, kind: 'other', subject: call.name.slice(0, MAX_SUBJECT_CHARS) };
}

export function turnRecordOf(turn: ModelTurn, ctx: TurnContext, keepContent?: string): TurnRecord {
  const calls = turn.toolCalls.map((c) => callRecordOf(turn, c, ctx));
  const seen = new Set(calls.map((c) => c.key));
  for (const c of turn.echoedToolCalls ?? []) {
    const r = callRecordOf(turn, c, ctx, true);
    if (!seen.has(r.key)) calls.push(r);
  }
  const rec: TurnRecord = {
    sensorId: ctx.sensorId, tsMs: ctx.tsMs, agent: ctx.agent ?? null, agentPid: ctx.agentPid ?? null, pid: ctx.pid ?? null,
    source: turn.source, provider: turn.provider, incomplete: turn.incomplete, calls,
    callsVisible: turn.source !== 'http' ? !turn.incomplete : turn.answerWhole === true,
  };
  if (turn.api) rec.api = turn.api;
  if (turn.model) rec.model = turn.model.slice(0, 256);
  if (turn.responseModel) rec.responseModel = turn.responseModel.slice(0, 256);
  if (turn.inputTokens !== undefined) rec.inputTokens = turn.inputTokens;
  if (turn.outputTokens !== undefined) rec.outputTokens = turn.outputTokens;
  if (ctx.remote) rec.remote = ctx.remote;
  if (turn.sessionId) rec.sessionId = turn.sessionId.slice(0, 256);
  if (keepContent !== undefined) rec.content = boundedUtf8(keepContent, MAX_KEPT_CONTENT_BYTES);
  return rec;
}

/** The join's view of a stored call record (the script is the subject: commands longer than 512 characters match on their start). */
export function intentCallOfRecord(turn: Pick<TurnRecord, 'tsMs' | 'agent' | 'agentPid' | 'source' | 'provider' | 'model' | 'sessionId'>, c: CallRecord): IntentCall | undefined {
  if (c.kind === 'other') return undefined;
  const base: IntentCall = {
    key: c.key, toolName: c.toolName, tsMs: turn.tsMs, subject: c.subject, argumentsSha256: c.argsSha256, source: turn.source, provider: turn.provider,
    ...(turn.agent ? { agent: turn.agent } : {}), ...(turn.agentPid ? { agentPid: turn.agentPid } : {}), ...(turn.model ? { model: turn.model } : {}),
    ...(c.callId ? { callId: c.callId } : {}), ...(turn.sessionId ? { sessionId: turn.sessionId } : {}),
  };
  if (c.kind === 'shell') return { ...base, shell: { script: c.subject, commands: simpleCommands(c.subject) } };
  if (!c.filePath) return undefined;
  return { ...base, filePath: c.filePath, ...(c.fileAccess ? { fileAccess: c.fileAccess } : {}) };
}

function boundedUtf8(s: string, max: number): string {
  const b = Buffer.from(s, 'utf8');
  return b.length <= max ? s : b.subarray(0, max).toString('utf8');
}
