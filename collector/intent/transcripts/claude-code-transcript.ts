// Claude Code: ~/.claude/projects/<cwd with / as ->/<session id>.jsonl, one
// JSON object per line: {type: 'user'|'assistant'|'system'|'summary', uuid,
// parentUuid, sessionId, timestamp, cwd, message}. An assistant message is an
// Anthropic Messages answer ({id, model, content: [...tool_use...], usage});
// Claude Code writes one line per content block, all with the same
// message.id, so a call is reported once, by its tool_use id. Tool results
// come back in user lines as tool_result blocks.
import { asArray, asCount, asString, boundedText, emptyTurn, isRecord, toolCall, type ModelTurn } from '../turn.js';
import { BoundedSet } from './bounded-set.js';

export class ClaudeCodeTranscript {
  private readonly seenCalls = new BoundedSet(10_000);

  line(record: unknown): ModelTurn[] {
    if (!isRecord(record) || !isRecord(record.message)) return [];
    const msg = record.message;
    const base = (): ModelTurn => {
      const t = emptyTurn('claude-code', 'anthropic');
      t.api = 'anthropic.messages';
      if (asString(record.timestamp)) t.ts = record.timestamp as string;
      if (asString(record.sessionId)) t.sessionId = record.sessionId as string;
      return t;
    };
    if (record.type === 'assistant') {
      const t = base();
      t.model = asString(msg.model);
      t.responseModel = t.model;
      t.responseId = asString(msg.id);
      if (asString(msg.stop_reason)) t.finishReasons.push(msg.stop_reason as string);
      const usage = isRecord(msg.usage) ? msg.usage : {};
      t.inputTokens = asCount(usage.input_tokens);
      t.outputTokens = asCount(usage.output_tokens);
      for (const b of asArray(msg.content)) {
        if (!isRecord(b) || b.type !== 'tool_use') continue;
        const id = asString(b.id);
        if (id && !this.seenCalls.add(id)) continue;
        t.toolCalls.push(toolCall(asString(b.name) ?? '', JSON.stringify(b.input ?? {}), id));
      }
      return [t];
    }
    if (record.type === 'user') {
      const t = base();
      for (const b of asArray(msg.content)) {
        if (!isRecord(b) || b.type !== 'tool_result') continue;
        const content = typeof b.content === 'string' ? b.content : asArray(b.content).map((p) => (isRecord(p) && typeof p.text === 'string' ? p.text : '')).join('');
        t.toolResults.push({ callId: asString(b.tool_use_id), content: boundedText(content), ...(b.is_error === true ? { isError: true } : {}) });
      }
      return t.toolResults.length ? [t] : [];
    }
    return [];
  }
}
