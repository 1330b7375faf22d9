// `sensor rules`: the detection rules this build judges with, from the
// detectors' own metadata (collector/detect/detectors/): what each fires on,
// its default severity, ATT&CK techniques, whether it waits for a baseline,
// what benign work looks like it, and its parameters with their defaults:
// what an agent's `detect: <rule>:` section of agents.yaml may set.
import { type Command } from 'commander';
import { DETECTORS } from '../../../collector/detect/detectors/index.js';
import { UNEXPLAINED_ACTION } from '../../../collector/detect/unexplained-action.js';
import { SECRET_EGRESS_RULE } from '../../../collector/detect/egress-finding.js';
import { CliError } from '../exit-codes.js';

export interface RuleInfo {
  id: string;
  title: string;
  severity: string;
  attack: string[];
  /** 'always': judged while learning too; 'detecting': once the agent's baseline is complete */
  phase: 'always' | 'detecting';
  description: string;
  falsePositives: string;
  /** parameter defaults (agents.yaml `detect: <id>: { … }`); empty for rules without parameters */
  params: Record<string, unknown>;
  /** where it is judged: a detector on events, or a finding of the sensor's egress content or intent join */
  source: 'detector' | 'egress-content' | 'intent-join';
}

/** Every rule with its metadata, detectors first in their registry order. */
export function listRules(): RuleInfo[] {
  const rules: RuleInfo[] = DETECTORS.map((d) => ({
    id: d.meta.id, title: d.meta.title, severity: d.meta.severity, attack: d.meta.attack, phase: d.meta.phase,
    description: d.meta.description, falsePositives: d.meta.falsePositives, params: d.meta.params.parse({}) as Record<string, unknown>, source: 'detector',
  }));
  rules.push({
    id: SECRET_EGRESS_RULE, title: 'A secret the agent read, leaving it', severity: 'critical', attack: ['T1041', 'T1048', 'T1552.001'], phase: 'always',
    description: 'A secret read by the agent (or its base64 or hex form), or a new secret, found in what it sends (plain sockets, and TLS through SSL_write uprobes where visible), naming the destination, even the usual model API.',
    falsePositives: 'An agent asked to send a key somewhere on purpose.', params: {}, source: 'egress-content',
  });
  rules.push({
    id: UNEXPLAINED_ACTION.id, title: UNEXPLAINED_ACTION.title, severity: UNEXPLAINED_ACTION.severity, attack: UNEXPLAINED_ACTION.attack, phase: 'always',
    description: 'An exec of a network or credential tool, or of a command naming credential files, that no tool call of the agent\'s visible model turns explains.',
    falsePositives: UNEXPLAINED_ACTION.falsePositives, params: {}, source: 'intent-join',
  });
  return rules;
}

function printOne(r: RuleInfo): void {
  const lines = [
    `${r.id}: ${r.title}`,
    `  severity ${r.severity} (default); ATT&CK ${r.attack.join(', ')}; ${r.phase === 'always' ? 'judged while learning too' : 'judged once the baseline is complete'}`,
    `  fires: ${r.description}`,
    `  benign look-alikes: ${r.falsePositives}`,
  ];
  const params = Object.entries(r.params);
  lines.push(r.source === 'detector'
    ? `  set per agent in agents.yaml, under its entry: detect: { ${r.id}: { enabled: true, severity: ${r.severity}${params.map(([k, v]) => `, ${k}: ${JSON.stringify(v)}`).join('')} } }`
    : `  from the ${r.source === 'egress-content' ? "sensor's egress content capture" : 'intent join of tool calls to actions'}; switched off with it`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

export function register(program: Command): void {
  program
    .command('rules')
    .description('List the detection rules: what each fires on, severity, ATT&CK, and its agents.yaml parameters with defaults')
    .argument('[rule]', 'one rule in full (its id, e.g. data_destruction)')
    .option('--json', 'one JSON object per rule and line')
    .action((rule: string | undefined, opts: { json?: boolean }) => {
      const all = listRules();
      const chosen = rule === undefined ? all : all.filter((r) => r.id === rule);
      if (rule !== undefined && chosen.length === 0) throw new CliError(`no rule ${JSON.stringify(rule)} (known: ${all.map((r) => r.id).join(', ')})`);
      if (opts.json) {
        for (const r of chosen) process.stdout.write(`${JSON.stringify(r)}\n`);
      } else if (rule !== undefined) {
        printOne(chosen[0]!);
      } else {
        const width = Math.max(...all.map((r) => r.id.length));
        for (const r of chosen) {
          process.stdout.write(`${r.id.padEnd(width)}  ${r.severity.padEnd(8)}  ${(r.phase === 'detecting' ? 'baseline' : 'always').padEnd(8)}  ${r.attack.slice(0, 3).join(',').padEnd(30)}  ${r.title}\n`);
        }
      }
    });
}
