// The built-in agent list `sensor run` falls back to: it parses, and it
// recognises agents by comm and by interpreter command line, but not
// ordinary scripts that merely share an interpreter.
import { describe, expect, it } from 'vitest';
import { defaultAgents } from '../sensor/agents/known-agents.js';
import { AgentRegistry } from '../sensor/agents/registry.js';

const registry = new AgentRegistry(defaultAgents().agents);
const agentOf = (comm: string, argv: string[], exe: string | null = null): string | null =>
  registry.matchProcess({ comm, exe, argv, cgroupId: null })?.spec.name ?? null;

describe('built-in known agents', () => {
  it('names interpreter agents by their command line', () => {
    expect(agentOf('node', ['node', '/usr/local/lib/node_modules/@anthropic-ai/claude-code/cli.js', '--print', 'hi'])).toBe('claude-code');
    expect(agentOf('node', ['node', '/home/u/.npm/_npx/1/node_modules/@google/gemini-cli/dist/index.js'])).toBe('gemini-cli');
    expect(agentOf('python3', ['python3', '-m', 'aider', '--model', 'x'])).toBe('aider');
    expect(agentOf('python3', ['/usr/bin/python3', '/home/u/.local/bin/aider'])).toBe('aider');
  });

  it('names native agents by comm', () => {
    expect(agentOf('codex', ['codex', 'exec', 'ls'])).toBe('codex');
    expect(agentOf('goose', ['goose', 'session'])).toBe('goose');
  });

  it('leaves ordinary interpreter scripts alone', () => {
    expect(agentOf('node', ['node', '/srv/app/server.js'])).toBeNull();
    expect(agentOf('python3', ['python3', '-m', 'http.server'])).toBeNull();
    expect(agentOf('python3', ['python3', '-m', 'aiderx'])).toBeNull();
  });
});
