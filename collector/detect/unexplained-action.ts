// An agent acting on its own: an exec that no tool call the model asked for
// explains, in an agent instance whose conversation the sensor does see
// (collector/intent: turns captured or read from its session files). Fed by
// the intent join (IntentService.onUnexplained), not by the event stream:
// "unexplained" is only known once the join window has passed.
//
// Precision first. Only where intent is visible for that instance, after its
// first turn, never the agent's root process (its start-up or respawn), and
// only for execs that matter: a downloader or network tool, a tool that
// reads credentials, or a command (or shell script) naming credential files. An agent that runs `git
// status` or its own helpers between turns raises nothing.
import { basename } from 'node:path';
import type { ActionEvent } from '../intent/join/action-event.js';
import { shellScriptOfArgv, simpleCommands } from '../intent/join/shell-command.js';
import type { AlertDraft } from './detector.js';

export const UNEXPLAINED_ACTION = {
  id: 'unexplained_action',
  title: 'Agent acted with no tool call behind it',
  severity: 'high' as const,
  attack: ['T1059', 'T1105'],
  falsePositives: 'agents that run their own helper scripts (hooks, MCP servers started by a shell) between turns; a tool call the capture missed (an HTTP/2 or rustls connection beside a visible one)',
};

const NETWORK_TOOLS = new Set(['curl', 'wget', 'nc', 'ncat', 'netcat', 'socat', 'scp', 'sftp', 'rsync', 'ssh', 'ftp', 'tftp', 'aria2c']);
const CREDENTIAL_TOOLS = new Set(['gpg', 'ssh-add', 'ssh-keygen', 'security', 'secret-tool', 'pass', 'aws', 'gcloud', 'az', 'kubectl']);

/** Credential stores and keys by path (a word of the command line naming one). */
const SENSITIVE_WORD = /(^|\/|~)\.(ssh|aws|gnupg|kube|docker|netrc|git-credentials|npmrc|pypirc)(\/|$)|id_(rsa|dsa|ecdsa|ed25519)\b|\/etc\/(shadow|gshadow|sudoers)\b|(^|\/)\.env(\.|$)|credentials\b/;

function toolOf(word: string): string | undefined {
  const prog = basename(word);
  if (NETWORK_TOOLS.has(prog)) return 'a network tool';
  if (CREDENTIAL_TOOLS.has(prog)) return 'a credential tool';
  return undefined;
}

/**
 * What makes the exec matter, or undefined. A shell's script is judged by
 * its commands: `sh -c "locale charmap"` (a library asking for the charset)
 * is not worth a responder's time; `bash -c "curl … | sh"` or a script
 * naming ~/.ssh is.
 */
function why(argv: string[]): string | undefined {
  const direct = toolOf(argv[0] ?? '');
  if (direct) return direct;
  if (argv.slice(1).some((a) => SENSITIVE_WORD.test(a))) return 'a command naming credentials';
  const script = shellScriptOfArgv(argv);
  if (script === undefined) return undefined;
  for (const cmd of simpleCommands(script.slice(0, 65536))) {
    const t = cmd[0] ? toolOf(cmd[0].text) : undefined;
    if (t) return `a shell script running ${t}`;
    if (cmd.some((w) => SENSITIVE_WORD.test(w.text))) return 'a shell script naming credentials';
  }
  return undefined;
}

const printable = (s: string): string => s.replace(/[\x00-\x1f\x7f-\x9f\\]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);

/** The alert for an unexplained exec, or undefined when the exec is not one that matters. */
export function unexplainedActionDraft(eventId: number, a: ActionEvent): AlertDraft | undefined {
  if (a.type !== 'exec' || !a.argv) return undefined;
  const what = why(a.argv);
  if (!what) return undefined;
  const cmd = printable(a.argv.join(' ')).slice(0, 200);
  return {
    subject: basename(a.argv[0] ?? '?'),
    summary: `${a.agent ?? 'agent'} (pid ${a.pid}) ran ${what}, \`${cmd}\`, with no tool call behind it while its model turns are visible: no tool call the model asked for within the join window runs this; check what started it`,
    evidence: [BigInt(eventId)],
  };
}
