// Tool calls joined to the actions they caused: argv normalisation of shell
// calls, process trees from fork events, file tool calls to opens, either
// order of arrival, actions with no tool call behind them, the links table
// and the timeline line.
import { describe, expect, it } from 'vitest';
import type { ActionEvent } from '../collector/intent/join/action-event.js';
import { intentCallOf } from '../collector/intent/join/intent-call.js';
import { IntentJoiner, type IntentLink } from '../collector/intent/join/intent-joiner.js';
import { argvMatchesIntent, shellIntentOf, simpleCommands } from '../collector/intent/join/shell-command.js';
import { formatIntentLine } from '../collector/intent/join/timeline-line.js';
import { emptyTurn, toolCall, type ModelTurn } from '../collector/intent/turn.js';

const HOME = '/home/u';
const T0 = 1_765_000_000_000;

function turn(source: ModelTurn['source'] = 'gemini-cli'): ModelTurn {
  const t = emptyTurn(source, 'gcp.gemini');
  t.sessionId = 's1';
  t.model = 'gemini-2.5-pro';
  return t;
}

const shellCall = (command: unknown, id = 'c1', name = 'run_shell_command') => toolCall(name, JSON.stringify({ command }), id);

let nextId = 1;
function ev(type: ActionEvent['type'], pid: number, dt: number, extra: Partial<ActionEvent> = {}): ActionEvent {
  return { id: nextId++, type, tsMs: T0 + dt, pid, ppid: extra.ppid ?? 100, agent: 'gemini', agentPid: 100, ...extra };
}

describe('shell command normalisation', () => {
  it('splits scripts into simple commands the way a shell would quote them', () => {
    expect(simpleCommands(`FOO=1 cat "a b" 'c d' e\\ f > /dev/null && ls -la; echo "$HOME" | wc -l # note`).map((c) => c.map((w) => (w.wild ? `<${w.text}>` : w.text)))).toEqual([
      ['cat', 'a b', 'c d', 'e f'], ['ls', '-la'], ['echo', '<$HOME>'], ['wc', '-l'],
    ]);
  });

  it('unwraps bash -lc layers from strings and argv arrays', () => {
    expect(shellIntentOf(shellCall('bash -lc "cat ~/.ssh/id_rsa"'))?.script).toBe('cat ~/.ssh/id_rsa');
    expect(shellIntentOf(shellCall(['bash', '-lc', "sh -c 'cat ~/.ssh/id_rsa'"]))?.script).toBe('cat ~/.ssh/id_rsa');
    expect(shellIntentOf(shellCall(['ls', '-a', 'my dir']))?.script).toBe("ls -a 'my dir'");
    expect(shellIntentOf(toolCall('read_file', '{"path":"/x"}'))).toBeUndefined();
  });

  it('matches the shell exec, or a command with ~ expanded, and not a near miss', () => {
    const intent = shellIntentOf(shellCall('cat ~/.ssh/id_rsa | base64'))!;
    expect(argvMatchesIntent(['/bin/bash', '-c', 'cat ~/.ssh/id_rsa | base64'], intent)).toBe('shell');
    expect(argvMatchesIntent(['/usr/bin/cat', '/home/u/.ssh/id_rsa'], intent, HOME)).toBe('command');
    expect(argvMatchesIntent(['base64'], intent, HOME)).toBe('command');
    expect(argvMatchesIntent(['cat', '/home/u/.ssh/id_rsa.pub'], intent, HOME)).toBeUndefined();
    expect(argvMatchesIntent(['cat', '/home/other/.ssh/id_rsa'], intent, HOME)).toBeUndefined();
    // Gemini CLI's and Qwen Code's wrapper (seen on the live sensor with Qwen Code 0.1.4).
    expect(argvMatchesIntent(['bash', '-c', '{ cat ~/.ssh/id_rsa | base64; }; __code=$?; pgrep -g 0 >/tmp/shell_pgrep_e5b77337189e.tmp 2>&1; exit $__code;'], intent)).toBe('shell');
    expect(argvMatchesIntent(['bash', '-c', '{ cat ~/.ssh/id_rsa; }; __code=$?; pgrep -g 0 >/tmp/x.tmp 2>&1; exit $__code;'], intent)).toBeUndefined();
    const glob = shellIntentOf(shellCall('rm -f /tmp/x*'))!;
    expect(argvMatchesIntent(['rm', '-f', '/tmp/x1', '/tmp/x2'], glob)).toBe('command');
  });
});

describe('intent join', () => {
  const homeOf = () => HOME;

  it('call first: exec by argv, then the fork/exec/open/connect of that tree; other agent execs have no tool call', () => {
    const j = new IntentJoiner({ homeOf });
    const call = intentCallOf(turn(), shellCall('bash -lc "cat ~/.ssh/id_rsa"'), { tsMs: T0, agent: 'gemini', agentPid: 100, home: HOME })!;
    expect(j.addCall(call)).toEqual([]);
    const links: IntentLink[] = [];
    const fork = ev('fork', 200, 5, { ppid: 100 });
    const bash = ev('exec', 200, 6, { argv: ['bash', '-lc', 'cat ~/.ssh/id_rsa'] });
    const cat = ev('exec', 200, 7, { argv: ['cat', '/home/u/.ssh/id_rsa'] });
    const open = ev('open', 200, 8, { path: '/home/u/.ssh/id_rsa', access: 'read' });
    const child = ev('fork', 201, 9, { ppid: 200 });
    const conn = ev('connect', 201, 10, { addr: '127.0.0.1', port: 4444 });
    const agentOwn = ev('open', 100, 11, { path: '/home/u/proj/a.txt', access: 'read' });
    const stray = ev('exec', 300, 12, { argv: ['curl', 'http://x'] });
    for (const e of [fork, bash, cat, open, child, conn, agentOwn, stray]) links.push(...j.event(e));
    expect(links.map((l) => [l.eventId, l.relation, l.depth])).toEqual([
      [bash.id, 'shell', 0], [cat.id, 'descendant', 0], [open.id, 'open', 0], [conn.id, 'connect', 1],
    ]);
    expect(links.every((l) => l.callKey === call.key)).toBe(true);
    expect(j.flush(T0 + 30_000)).toEqual([]);
    expect(j.flush(T0 + 61_000).map((l) => [l.eventId, l.relation, l.callKey])).toEqual([[stray.id, 'no_tool_call', null]]);
    expect(j.flush(T0 + 62_000)).toEqual([]);
  });

  it('exec first (a transcript written after the command ran): the late call claims the exec and the tree', () => {
    const j = new IntentJoiner({ homeOf });
    const cat = ev('exec', 400, 0, { argv: ['cat', '/home/u/.aws/credentials'] });
    const open = ev('open', 400, 1, { path: '/home/u/.aws/credentials', access: 'read' });
    expect(j.event(cat)).toEqual([]);
    expect(j.event(open)).toEqual([]);
    const call = intentCallOf(turn('codex'), shellCall(['bash', '-lc', 'cat ~/.aws/credentials'], 'call_9', 'shell'), { tsMs: T0 + 2_000, agentPid: 100, home: HOME })!;
    expect(j.addCall(call).map((l) => [l.eventId, l.relation])).toEqual([[cat.id, 'command'], [open.id, 'open']]);
    expect(j.flush(T0 + 70_000)).toEqual([]);
  });

  it('read and write file tool calls join opens of that path with the matching access, within the window', () => {
    const j = new IntentJoiner({ homeOf });
    const read = intentCallOf(turn(), toolCall('read_file', '{"absolute_path":"~/.netrc"}', 'r1'), { tsMs: T0, agentPid: 100, home: HOME })!;
    const write = intentCallOf(turn(), toolCall('write_file', '{"file_path":"notes.md","content":"secret"}', 'w1'), { tsMs: T0, agentPid: 100, cwd: '/home/u/proj' })!;
    expect(read).toMatchObject({ filePath: '/home/u/.netrc', fileAccess: 'read', subject: '~/.netrc' });
    expect(write).toMatchObject({ filePath: '/home/u/proj/notes.md', fileAccess: 'write' });
    j.addCall(read); j.addCall(write);
    const r = ev('open', 100, 3, { path: '/home/u/.netrc', access: 'read' });
    const wWrongAccess = ev('open', 100, 4, { path: '/home/u/proj/notes.md', access: 'read' });
    const w = ev('open', 100, 5, { path: '/home/u/proj/notes.md', access: 'write' });
    const late = ev('open', 100, 120_000, { path: '/home/u/.netrc', access: 'read' });
    const otherAgent = { ...ev('open', 900, 6, { path: '/home/u/.netrc', access: 'read' }), agentPid: 900 };
    const links = [r, wWrongAccess, w, late, otherAgent].flatMap((e) => j.event(e));
    expect(links.map((l) => [l.eventId, l.callKey, l.relation])).toEqual([[r.id, read.key, 'file'], [w.id, write.key, 'file']]);
  });

  it('stays bounded under a flood of events and calls', () => {
    const j = new IntentJoiner({ maxRecentEvents: 1000, maxCalls: 50, maxTrackedPids: 10 });
    for (let i = 0; i < 200; i++) j.addCall(intentCallOf(turn(), shellCall(`echo ${i}`, `c${i}`), { tsMs: T0, agentPid: 100 })!);
    for (let i = 0; i < 5000; i++) j.event(ev(i % 2 ? 'fork' : 'exec', 1000 + i, i, { ppid: 999 + i, argv: ['echo', String(i % 400)] }));
    expect(j.stats.callsDropped).toBe(150);
    expect(j.stats.eventsDropped).toBe(4000);
    expect(j.stats.treesDropped).toBeGreaterThan(0);
  });
});

describe('timeline line', () => {
  it('tells the story in one line, hostile bytes escaped', () => {
    const line = formatIntentLine('run_shell_command', 'cat ~/.ssh/id_rsa', [
      { kind: 'exec', text: '/usr/bin/cat' }, { kind: 'open', text: '/home/u/.ssh/id_rsa' }, { kind: 'open', text: '/home/u/.ssh/id_rsa' }, { kind: 'alert', text: 'secret_read' },
    ]);
    expect(line).toBe('tool call run_shell_command "cat ~/.ssh/id_rsa" → exec cat → open /home/u/.ssh/id_rsa → alert secret_read');
    expect(formatIntentLine(null, null, [{ kind: 'exec', text: 'evil\n\x1b[2J' }])).toBe('no tool call → exec evil\\x0a\\x1b[2J');
  });
});
