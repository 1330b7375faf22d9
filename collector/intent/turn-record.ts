// Turn records (proto/events/turn-record.ts) from parsed model turns, in the
// sensor, and the join's view of a stored one, in the collector: the
// arguments stay behind, their SHA-256 travels.
import { createHash } from 'node:crypto';
import { intentCallOf, type CallContext, type IntentCall } from './join/intent-call.js';
import { simpleCommands } from './join/shell-command.js';
import type { ModelTurn, ToolCall } from './turn.js';
import { MAX_KEPT_CONTENT_BYTES, MAX_SUBJECT_CHARS, type CallRecord, type TurnRecord } from '../../proto/events/turn-record.js';

export type { CallRecord, TurnRecord } from '../../proto/events/turn-record.js';

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
