// The agents `sensor run` watches when it is given no rules: well-known
// desktop AI agents, recognised by their binary's comm or, when they run on
// an interpreter, by the package path or module name in their command line.
// /etc/agent-sensor/agents.yaml, when present, replaces this list.
import { existsSync } from 'node:fs';
import { loadAgentConfig, parseAgentConfig, type AgentSpec } from './config.js';

export const SYSTEM_AGENT_CONFIG = '/etc/agent-sensor/agents.yaml';

const KNOWN_AGENTS_YAML = `
agents:
  - name: claude-code
    comm: ["claude"]
    argv: ["re:@anthropic-ai/claude-code/", "re:/claude-code/cli\\\\.js"]
  - name: codex
    comm: ["codex"]
    argv: ["re:@openai/codex/"]
  - name: gemini-cli
    comm: ["gemini"]
    argv: ["re:@google/gemini-cli/"]
  - name: qwen-code
    comm: ["qwen"]
    argv: ["re:@qwen-code/qwen-code/"]
  - name: copilot-cli
    argv: ["re:@github/copilot/"]
  - name: amp
    comm: ["amp"]
    argv: ["re:@sourcegraph/amp/"]
  - name: opencode
    comm: ["opencode"]
    argv: ["re:opencode-ai/"]
  - name: cursor-agent
    comm: ["cursor-agent"]
  - name: goose
    comm: ["goose"]
  - name: crush
    comm: ["crush"]
  - name: aider
    comm: ["aider"]
    argv: ["**/bin/aider", "re:(^| )-m aider( |$)"]
  - name: open-interpreter
    argv: ["**/bin/interpreter", "re:(^| )-m interpreter( |$)"]
  - name: openhands
    argv: ["re:(^| )-m openhands[. ]", "**/bin/openhands"]
`;

/** The system config if it exists, else the built-in list. */
export function defaultAgents(): { agents: AgentSpec[]; source: string } {
  if (existsSync(SYSTEM_AGENT_CONFIG)) return { agents: loadAgentConfig(SYSTEM_AGENT_CONFIG), source: SYSTEM_AGENT_CONFIG };
  return { agents: parseAgentConfig(KNOWN_AGENTS_YAML, 'built-in agent list'), source: 'the built-in list of known agents' };
}
