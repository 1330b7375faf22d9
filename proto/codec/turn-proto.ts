// TurnRecord <-> the ModelTurn message (EventBatch.turns). The collector side
// bounds what a sensor may send: every string is cut to its limit, unknown
// kinds and sources are refused, at most MAX_TURNS_PER_BATCH turns and
// MAX_CALLS_PER_TURN calls each; the sensor id is the batch's, never the turn's.
import type { CallRecord, TurnRecord, TurnSourceName } from '../events/turn-record.js';
import { MAX_KEPT_CONTENT_BYTES, MAX_SUBJECT_CHARS } from '../events/turn-record.js';
import { messageType, type PbModelTurn, type PbToolCallRecord } from './proto.js';

export type { PbModelTurn, PbToolCallRecord };

export const MAX_TURNS_PER_BATCH = 1000;
export const MAX_CALLS_PER_TURN = 256;
const MAX_NAME = 256;
const SOURCES = new Set<TurnSourceName>(['http', 'claude-code', 'codex', 'gemini-cli', 'qwen-code']);
const KINDS = new Set(['shell', 'file', 'other']);

export function toPbTurn(t: TurnRecord): PbModelTurn {
  const pb: PbModelTurn = {
    ts_ms: t.tsMs, agent_pid: t.agentPid ?? 0, pid: t.pid ?? 0, source: t.source, api: t.api ?? '', provider: t.provider,
    model: t.model ?? '', response_model: t.responseModel ?? '', incomplete: t.incomplete, calls_visible: t.callsVisible,
    remote: t.remote ?? '', session_id: t.sessionId ?? '',
    calls: t.calls.map((c) => ({
      key: c.key, call_id: c.callId ?? '', tool_name: c.toolName, kind: c.kind, subject: c.subject, file_path: c.filePath ?? '',
      file_access: c.fileAccess ?? '', args_sha256: c.argsSha256, incomplete: c.incomplete, echoed: c.echoed === true,
    })),
  };
  if (t.agent !== null) pb.agent = t.agent;
  if (t.inputTokens !== undefined) pb.input_tokens = t.inputTokens;
  if (t.outputTokens !== undefined) pb.output_tokens = t.outputTokens;
  if (t.content !== undefined) pb.content = t.content;
  return pb;
}

/** One ModelTurn, encoded (the sensor encodes when it pushes, like events). */
export function encodeTurn(t: TurnRecord): Buffer {
  const type = messageType('ModelTurn');
  return Buffer.from(type.encode(type.fromObject(toPbTurn(t))).finish());
}

export function decodePbTurn(bytes: Uint8Array): PbModelTurn {
  const type = messageType('ModelTurn');
  return type.toObject(type.decode(bytes), { longs: String, defaults: false }) as PbModelTurn;
}

const cut = (s: string | undefined, n: number): string | undefined => (s ? s.slice(0, n) : undefined);
const count = (v: string | number | undefined): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
};

/** A turn from the wire under the batch's sensor id, bounded; null when it is not one (unknown source). */
export function fromPbTurn(pb: PbModelTurn, sensorId: string): TurnRecord | null {
  const source = pb.source as TurnSourceName;
  if (!SOURCES.has(source)) return null;
  const t: TurnRecord = {
    sensorId, tsMs: count(pb.ts_ms) ?? 0, agent: cut(pb.agent, MAX_NAME) ?? null, agentPid: pb.agent_pid || null, pid: pb.pid || null,
    source, provider: cut(pb.provider, MAX_NAME) || 'unknown', incomplete: pb.incomplete === true, callsVisible: pb.calls_visible === true,
    calls: [],
  };
  const opt = { api: cut(pb.api, MAX_NAME), model: cut(pb.model, MAX_NAME), responseModel: cut(pb.response_model, MAX_NAME),
    remote: cut(pb.remote, MAX_NAME), sessionId: cut(pb.session_id, MAX_NAME), inputTokens: count(pb.input_tokens), outputTokens: count(pb.output_tokens) };
  for (const [k, v] of Object.entries(opt)) if (v !== undefined) (t as unknown as Record<string, unknown>)[k] = v;
  if (pb.content !== undefined) t.content = Buffer.from(pb.content, 'utf8').subarray(0, MAX_KEPT_CONTENT_BYTES).toString('utf8');
  for (const c of (pb.calls ?? []).slice(0, MAX_CALLS_PER_TURN)) {
    if (!c.key || !KINDS.has(c.kind ?? '') || !/^[0-9a-f]{64}$/.test(c.args_sha256 ?? '')) continue;
    const r: CallRecord = {
      key: c.key.slice(0, 1024), toolName: cut(c.tool_name, MAX_NAME) ?? '', kind: c.kind as CallRecord['kind'],
      subject: (c.subject ?? '').slice(0, MAX_SUBJECT_CHARS), argsSha256: c.args_sha256!, incomplete: c.incomplete === true,
    };
    if (c.call_id) r.callId = c.call_id.slice(0, MAX_NAME);
    if (c.kind === 'file' && c.file_path?.startsWith('/')) r.filePath = c.file_path.slice(0, 4096);
    if (c.file_access === 'read' || c.file_access === 'write') r.fileAccess = c.file_access;
    if (c.echoed) r.echoed = true;
    t.calls.push(r);
  }
  return t;
}
