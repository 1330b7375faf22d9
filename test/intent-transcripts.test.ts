// Agents' own session transcripts as a second source of model turns (no TLS
// needed): Claude Code, Codex, Gemini CLI and Qwen Code formats, read
// incrementally by offset, only from files and folders the user owns.
import { appendFileSync, chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { discoverTranscripts, TranscriptPoller } from '../collector/intent/transcripts/transcript-sources.js';
import { newTailState, readNewLines } from '../collector/intent/transcripts/owned-file-reader.js';

const USER = 65534; // nobody: a user that is not the sensor's
const isRoot = process.getuid?.() === 0;
const work = mkdtempSync(join(tmpdir(), 'intent-transcripts-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Write a file and every folder above it (up to `home`) owned by `uid`. */
function put(home: string, rel: string, text: string, uid = USER): string {
  const path = join(home, rel);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  if (isRoot) {
    for (let d = dirname(path); d.startsWith(home); d = dirname(d)) chownSync(d, USER, USER);
    chownSync(path, uid, uid);
  }
  return path;
}

const jsonl = (...recs: unknown[]) => recs.map((r) => JSON.stringify(r)).join('\n') + '\n';

const CLAUDE = jsonl(
  { parentUuid: null, isSidechain: false, userType: 'external', cwd: '/home/u/proj', sessionId: 's-claude', version: '2.0.14', type: 'user', message: { role: 'user', content: 'show me my ssh key' }, uuid: 'u1', timestamp: '2026-12-06T01:00:00.000Z' },
  { parentUuid: 'u1', cwd: '/home/u/proj', sessionId: 's-claude', type: 'assistant', message: { id: 'msg_01A', type: 'message', role: 'assistant', model: 'claude-sonnet-4-5-20250929', content: [{ type: 'text', text: 'Reading it.' }], stop_reason: null, usage: { input_tokens: 12, output_tokens: 3 } }, uuid: 'a1', timestamp: '2026-12-06T01:00:01.000Z' },
  { parentUuid: 'a1', cwd: '/home/u/proj', sessionId: 's-claude', type: 'assistant', message: { id: 'msg_01A', type: 'message', role: 'assistant', model: 'claude-sonnet-4-5-20250929', content: [{ type: 'tool_use', id: 'toolu_1', name: 'Bash', input: { command: 'cat ~/.ssh/id_rsa', description: 'Print key' } }], stop_reason: 'tool_use', usage: { input_tokens: 12, output_tokens: 40 } }, uuid: 'a2', timestamp: '2026-12-06T01:00:02.000Z' },
  { parentUuid: 'a2', cwd: '/home/u/proj', sessionId: 's-claude', type: 'user', message: { role: 'user', content: [{ tool_use_id: 'toolu_1', type: 'tool_result', content: '-----BEGIN OPENSSH PRIVATE KEY-----', is_error: false }] }, uuid: 'u2', timestamp: '2026-12-06T01:00:03.000Z', toolUseResult: { stdout: '...' } },
);

const CODEX = jsonl(
  { timestamp: '2026-12-06T01:10:00.000Z', type: 'session_meta', payload: { id: 's-codex', timestamp: '2026-12-06T01:10:00.000Z', cwd: '/home/u/proj', originator: 'codex_cli_rs', cli_version: '0.46.0', instructions: null } },
  { timestamp: '2026-12-06T01:10:00.100Z', type: 'turn_context', payload: { cwd: '/home/u/proj', approval_policy: 'on-request', model: 'gpt-5-codex', effort: 'medium', summary: 'auto' } },
  { timestamp: '2026-12-06T01:10:02.000Z', type: 'response_item', payload: { type: 'function_call', name: 'shell', arguments: '{"command":["bash","-lc","cat ~/.ssh/id_rsa"],"workdir":"/home/u/proj"}', call_id: 'call_X1' } },
  { timestamp: '2026-12-06T01:10:02.500Z', type: 'response_item', payload: { type: 'function_call_output', call_id: 'call_X1', output: '{"output":"-----BEGIN","metadata":{"exit_code":0,"duration_seconds":0.01}}' } },
  { timestamp: '2026-12-06T01:10:03.000Z', type: 'event_msg', payload: { type: 'token_count', info: { total_token_usage: { input_tokens: 9000, output_tokens: 300 }, last_token_usage: { input_tokens: 4500, cached_input_tokens: 4000, output_tokens: 150, total_tokens: 4650 } } } },
  { timestamp: '2026-12-06T01:10:04.000Z', type: 'response_item', payload: { type: 'custom_tool_call', status: 'completed', call_id: 'call_P1', name: 'apply_patch', input: '*** Begin Patch\n*** Add File: notes.txt\n+hi\n*** End Patch' } },
);

const GEMINI_DOC = (toolCalls: unknown[]) => JSON.stringify({
  sessionId: 's-gemini', projectHash: 'ab12', startTime: '2026-12-06T01:20:00.000Z', lastUpdated: '2026-12-06T01:20:05.000Z',
  messages: [
    { id: 'g-u1', timestamp: '2026-12-06T01:20:00.000Z', type: 'user', content: 'cat my key' },
    { id: 'g-m1', timestamp: '2026-12-06T01:20:04.000Z', type: 'gemini', content: '', model: 'gemini-2.5-pro', tokens: { input: 8123, output: 21, cached: 0, thoughts: 90, tool: 0, total: 8234 }, toolCalls },
  ],
}, null, 2);
const GEMINI_CALL = { id: 'run_shell_command-1733446804000-abc', name: 'run_shell_command', args: { command: 'cat ~/.ssh/id_rsa' }, result: [{ functionResponse: { id: 'run_shell_command-1733446804000-abc', name: 'run_shell_command', response: { output: 'Command: cat ~/.ssh/id_rsa\nStdout: -----BEGIN' } } }], status: 'success', timestamp: '2026-12-06T01:20:04.500Z', displayName: 'Shell' };

const QWEN = jsonl(
  { uuid: 'q1', parentUuid: null, sessionId: 's-qwen', timestamp: '2026-12-06T01:30:00.000Z', type: 'user', cwd: '/home/u/proj', version: '0.2.0', message: { role: 'user', parts: [{ text: 'read /etc/hostname' }] } },
  { uuid: 'q2', parentUuid: 'q1', sessionId: 's-qwen', timestamp: '2026-12-06T01:30:01.000Z', type: 'assistant', cwd: '/home/u/proj', version: '0.2.0', model: 'qwen3-coder-plus', message: { role: 'model', parts: [{ functionCall: { id: 'call_q1', name: 'read_file', args: { absolute_path: '/etc/hostname' } } }] }, usageMetadata: { promptTokenCount: 700, candidatesTokenCount: 20, totalTokenCount: 720 } },
  { uuid: 'q3', parentUuid: 'q2', sessionId: 's-qwen', timestamp: '2026-12-06T01:30:02.000Z', type: 'tool_result', cwd: '/home/u/proj', version: '0.2.0', message: { role: 'user', parts: [{ functionResponse: { id: 'call_q1', name: 'read_file', response: { output: 'box' } } }] }, toolCallResult: { callId: 'call_q1', status: 'success' } },
);

describe.skipIf(!isRoot)('session transcripts (needs root to create files owned by another user)', () => {
  const home = join(work, 'home');
  mkdirSync(home);
  if (isRoot) chownSync(home, USER, USER);
  const claude = put(home, '.claude/projects/-home-u-proj/s-claude.jsonl', CLAUDE);
  const codex = put(home, '.codex/sessions/2026/12/06/rollout-2026-12-06T01-10-00-s-codex.jsonl', CODEX);
  const gemini = put(home, '.gemini/tmp/ab12/chats/session-2026-12-06T01-20-s-gemini.json', GEMINI_DOC([]));
  put(home, '.qwen/projects/-home-u-proj/chats/s-qwen.jsonl', QWEN);
  const poller = new TranscriptPoller(USER);

  it('finds each agent\'s files and reads tool calls, results and tokens into turns', () => {
    const files = discoverTranscripts(home, USER);
    expect(files.map((f) => f.format).sort()).toEqual(['claude-code', 'codex', 'gemini-cli-json', 'qwen-code-jsonl']);
    const { turns, errors } = poller.poll(files);
    expect(errors).toEqual([]);
    const calls = turns.flatMap((t) => t.toolCalls.map((c) => [t.source, c.name, c.id, JSON.stringify(c.input)]));
    expect(calls).toEqual([
      ['claude-code', 'Bash', 'toolu_1', '{"command":"cat ~/.ssh/id_rsa","description":"Print key"}'],
      ['codex', 'shell', 'call_X1', '{"command":["bash","-lc","cat ~/.ssh/id_rsa"],"workdir":"/home/u/proj"}'],
      ['codex', 'apply_patch', 'call_P1', JSON.stringify({ input: '*** Begin Patch\n*** Add File: notes.txt\n+hi\n*** End Patch' })],
      ['qwen-code', 'read_file', 'call_q1', '{"absolute_path":"/etc/hostname"}'],
    ]);
    const results = turns.flatMap((t) => t.toolResults.map((r) => [t.source, r.callId]));
    expect(results).toEqual([['claude-code', 'toolu_1'], ['codex', 'call_X1'], ['qwen-code', 'call_q1']]);
    const claudeCall = turns.find((t) => t.toolCalls[0]?.id === 'toolu_1')!;
    expect(claudeCall).toMatchObject({ provider: 'anthropic', model: 'claude-sonnet-4-5-20250929', sessionId: 's-claude', ts: '2026-12-06T01:00:02.000Z', outputTokens: 40 });
    expect(turns.find((t) => t.source === 'codex' && t.toolCalls[0]?.name === 'shell')).toMatchObject({ model: 'gpt-5-codex', sessionId: 's-codex' });
    expect(turns.find((t) => t.source === 'codex' && t.inputTokens !== undefined)).toMatchObject({ inputTokens: 4500, outputTokens: 150 });
    expect(turns.find((t) => t.source === 'qwen-code' && t.toolCalls.length)).toMatchObject({ provider: 'dashscope', inputTokens: 700 });
  });

  it('reads only what was appended, waits for a line to end, restarts when a file is replaced', () => {
    const files = discoverTranscripts(home, USER);
    expect(poller.poll(files).turns).toEqual([]);
    const more = JSON.stringify({ sessionId: 's-claude', type: 'assistant', timestamp: '2026-12-06T01:05:00.000Z', message: { id: 'msg_02', model: 'claude-sonnet-4-5-20250929', content: [{ type: 'tool_use', id: 'toolu_2', name: 'Read', input: { file_path: '/home/u/.aws/credentials' } }] } });
    appendFileSync(claude, more.slice(0, 50));
    expect(poller.poll(files).turns).toEqual([]);
    appendFileSync(claude, more.slice(50) + '\n');
    expect(poller.poll(files).turns.flatMap((t) => t.toolCalls.map((c) => c.id))).toEqual(['toolu_2']);
    // Gemini CLI rewrites its document: the call shows once, when it appears.
    writeFileSync(gemini, GEMINI_DOC([GEMINI_CALL]));
    const g = poller.poll(files).turns.filter((t) => t.source === 'gemini-cli');
    expect(g.flatMap((t) => t.toolCalls.map((c) => c.name))).toEqual(['run_shell_command']);
    expect(g[0].toolResults[0].content).toContain('Stdout: -----BEGIN');
    writeFileSync(gemini, GEMINI_DOC([GEMINI_CALL]) + ' ');
    expect(poller.poll(files).turns.filter((t) => t.source === 'gemini-cli').flatMap((t) => t.toolCalls)).toEqual([]);
    // Codex file truncated (a new session reusing the name): read from 0 again.
    truncateSync(codex, 0);
    appendFileSync(codex, CODEX.split('\n').slice(0, 3).join('\n') + '\n');
    expect(poller.poll(files).turns.flatMap((t) => t.toolCalls.map((c) => c.id))).toEqual(['call_X1']);
  });

  it('refuses files and folders the user does not own, and never follows symlinks', () => {
    const h2 = join(work, 'home2');
    mkdirSync(h2);
    chownSync(h2, USER, USER);
    const rootOwned = put(h2, '.claude/projects/p/root.jsonl', CLAUDE, 0);
    put(h2, '.claude/projects/p/ok.jsonl', CLAUDE);
    symlinkSync('/etc/shadow', join(h2, '.claude/projects/p/shadow.jsonl'));
    mkdirSync(join(h2, '.codex'));
    symlinkSync('/etc', join(h2, '.codex/sessions'));
    const files = discoverTranscripts(h2, USER);
    expect(files.map((f) => f.path.slice(h2.length)).sort()).toEqual(['/.claude/projects/p/ok.jsonl', '/.claude/projects/p/root.jsonl']);
    const r = new TranscriptPoller(USER).poll(files);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0].error).toMatch(/owned by uid 0, not 65534/);
    expect(r.turns.some((t) => t.toolCalls.length > 0)).toBe(true);
    expect(() => readNewLines(join(h2, '.claude/projects/p/shadow.jsonl'), 0, newTailState())).toThrow(/ELOOP/);
    void rootOwned;
  });

  it('hostile content: invalid JSON, invalid UTF-8, endless lines, wrong shapes', () => {
    const h3 = join(work, 'home3');
    mkdirSync(h3);
    chownSync(h3, USER, USER);
    const path = put(h3, '.codex/sessions/x.jsonl', '');
    appendFileSync(path, Buffer.concat([Buffer.from('{"type":"response_item","payload":{"type":"function_call","name":"a\xff","arguments":"{bad"}}\n', 'latin1'), Buffer.from('not json\n[1,2]\nnull\n{"type":"response_item","payload":7}\n')]));
    appendFileSync(path, 'x'.repeat(3 * 1024 * 1024) + '\n' + JSON.stringify({ type: 'response_item', payload: { type: 'function_call', name: 'after', arguments: '{}', call_id: 'c' } }) + '\n');
    const st = newTailState();
    const r1 = readNewLines(path, USER, st, 1024 * 1024, 1024 * 1024);
    expect(r1.lines).toHaveLength(5);
    let r2 = readNewLines(path, USER, st, 1024 * 1024, 1024 * 1024);
    while (r2.lines.length === 0 && st.offset < 4 * 1024 * 1024) r2 = readNewLines(path, USER, st, 1024 * 1024, 1024 * 1024);
    expect(r2.lines.map((l) => JSON.parse(l).payload.name)).toEqual(['after']);
    const turns = new TranscriptPoller(USER).poll(discoverTranscripts(h3, USER)).turns;
    expect(turns.flatMap((t) => t.toolCalls.map((c) => [c.name, c.incomplete ?? false]))).toEqual([['a\ufffd', true], ['after', false]]);
  });
});
