// An agent acting on its own: an exec that no tool call the model asked for
// explains, in an agent instance whose conversation the sensor does see
// (collector/intent: turns captured or read from its session files). Fed by
// the intent join (IntentService.onUnexplained), not by the event stream:
// "unexplained" is only known once the join window has passed.
//
// Precision first. Only where intent is visible for that instance, after its
// first turn, never the agent's root process (its start-up or respawn), and
// only for execs that matter: a shell running a script, a downloader or
// network tool, or a tool that reads credentials. An agent that runs `git
// status` or its own helpers between turns raises nothing.
import { basename } from 'node:path';
import type { ActionEvent } from '../intent/join/action-event.js';
import type { AlertDraft } from './detector.js';

export const UNEXPLAINED_ACTION = {
  id: 'unexplained_action',
  title: 'Agent acted with no tool call behind it',
  severity: 'high' as const,
  attack: ['T1059', 'T1105'],
  falsePositives: 'agents that run their own helper scripts (hooks, MCP servers started by a shell) between turns; a tool call the capture missed (an HTTP/2 or rustls connection beside a visible one)',
};

const SHELLS = new Set(['sh', 'bash', 'dash', 'zsh', 'ksh', 'mksh', 'fish', 'busybox']);
const NETWORK_TOOLS = new Set(['curl', 'wget', 'nc', 'ncat', 'netcat', 'socat', 'scp', 'sftp', 'rsync', 'ssh', 'ftp', 'tftp', 'aria2c']);
const CREDENTIAL_TOOLS = new Set(['gpg', 'ssh-add', 'ssh-keygen', 'security', 'secret-tool', 'pass', 'aws', 'gcloud', 'az', 'kubectl']);

function why(argv: string[]): string | undefined {
  const prog = basename(argv[0] ?? '');
  if (SHELLS.has(prog) && argv.some((a) => /^-[a-zA-Z]*c[a-zA-Z]*$/.test(a))) return 'a shell running a script';
  if (NETWORK_TOOLS.has(prog)) return 'a network tool';
  if (CREDENTIAL_TOOLS.has(prog)) return 'a credential tool';
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
