// Codex: ~/.codex/sessions/YYYY/MM/DD/rollout-<time>-<uuid>.jsonl. Each line
// is {timestamp, type, payload} with type session_meta, turn_context (model,
// cwd), response_item (an OpenAI Responses item: function_call,
// custom_tool_call, local_shell_call, *_output, message, reasoning) or
// event_msg (token_count with info.last_token_usage). Rollouts from before
// mid-2025 have the items bare on each line, without the wrapper.
import { itemToolCall } from '../model-api/openai-responses.js';
import { asCount, asString, boundedText, emptyTurn, isRecord, type ModelTurn } from '../turn.js';

export class CodexTranscript {
  private model?: string;
  private sessionId?: string;

  line(record: unknown): ModelTurn[] {
    if (!isRecord(record)) return [];
    const wrapped = typeof record.type === 'string' && isRecord(record.payload);
    const type = wrapped ? (record.type as string) : 'response_item';
    const payload = wrapped ? (record.payload as Record<string, unknown>) : record;
    const ts = asString(record.timestamp);
    if (type === 'session_meta') { this.sessionId = asString(payload.id) ?? this.sessionId; return []; }
    if (!wrapped && asString(record.id) && 'instructions' in record) { this.sessionId = record.id as string; return []; }
    if (type === 'turn_context') { this.model = asString(payload.model) ?? this.model; return []; }
    const t = emptyTurn('codex', 'openai');
    t.api = 'openai.responses';
    t.model = this.model;
    if (ts) t.ts = ts;
    if (this.sessionId) t.sessionId = this.sessionId;
    if (type === 'event_msg' && payload.type === 'token_count' && isRecord(payload.info)) {
      const last = isRecord(payload.info.last_token_usage) ? payload.info.last_token_usage : {};
      t.inputTokens = asCount(last.input_tokens);
      t.outputTokens = asCount(last.output_tokens);
      return t.inputTokens !== undefined || t.outputTokens !== undefined ? [t] : [];
    }
    if (type !== 'response_item') return [];
    const call = itemToolCall(payload);
    if (call) { t.toolCalls.push(call); return [t]; }
    if (payload.type === 'function_call_output' || payload.type === 'custom_tool_call_output' || payload.type === 'local_shell_call_output') {
      const out = payload.output;
      const text = isRecord(out) && typeof out.content === 'string' ? out.content : out;
      t.toolResults.push({ callId: asString(payload.call_id), content: boundedText(text) });
      return [t];
    }
    return [];
  }
}
