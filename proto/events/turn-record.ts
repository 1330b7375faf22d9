// A model turn as it travels from the sensor to the collector (EventBatch
// field 9, ModelTurn in sensor.proto): what the turn was (provider, model,
// tokens) and, per tool call, what the join and the timeline need (name,
// call id, the subject — the command or path, at most 512 characters — and
// the SHA-256 of the arguments), never the arguments or the captured bytes,
// unless the agent's `keepContent` is on (then `content` carries the bounded
// text). Built by collector/intent/turn-record.ts; stored by collector/intent.

export type TurnSourceName = 'http' | 'claude-code' | 'codex' | 'gemini-cli' | 'qwen-code';

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
  /** the sensor's id; on the wire, the batch's */
  sensorId: string;
  tsMs: number;
  agent: string | null;
  agentPid: number | null;
  pid: number | null;
  source: TurnSourceName;
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

export const MAX_SUBJECT_CHARS = 512;
/** keepContent: bytes of one turn's content kept (tool calls with arguments, tool results) */
export const MAX_KEPT_CONTENT_BYTES = 64 * 1024;
