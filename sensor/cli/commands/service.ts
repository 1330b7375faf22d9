// `sensor service`: what the systemd unit runs. It reads the service settings
// (/etc/agent-sensor/config.yaml, a dpkg conffile) and runs `sensor run` with
// them, so an operator edits one YAML file instead of the unit.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parse } from 'yaml';
import { z } from 'zod';

export const SERVICE_CONFIG = '/etc/agent-sensor/config.yaml';

const ServiceConfig = z.object({
  state_dir: z.string().min(1).optional(),
  agents_config: z.string().min(1).optional(),
  backend: z.enum(['auto', 'libbpf', 'bpftrace']).optional(),
  forward: z.array(z.string().min(1)).optional(),
  metrics: z.string().min(1).optional(),
}).strict();

/** The `sensor run` arguments the settings in `file` stand for. */
export function serviceArgs(file: string): string[] {
  let raw: unknown;
  try {
    raw = parse(readFileSync(file, 'utf8')) ?? {};
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`);
  }
  const parsed = ServiceConfig.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.join('.') || (issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : '(top)');
    throw new Error(`${file}: ${where}: ${issue.message}`);
  }
  const c = parsed.data;
  const args = ['run'];
  if (c.state_dir) args.push('--state-dir', c.state_dir);
  if (c.agents_config) args.push('--config', c.agents_config);
  if (c.backend) args.push('--backend', c.backend);
  for (const url of c.forward ?? []) args.push('--forward', url);
  if (c.metrics) args.push('--metrics', c.metrics);
  return args;
}

export function register(program: Command): void {
  program
    .command('service')
    .description(`Run the sensor with the settings of a service config file (what the systemd unit runs)`)
    .option('--config <file>', 'service settings (YAML)', SERVICE_CONFIG)
    .option('--print', 'print the `sensor run` command the settings make, and exit')
    .action(async (opts: { config: string; print?: boolean }) => {
      const args = serviceArgs(opts.config);
      if (opts.print) {
        process.stdout.write(`sensor ${args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ')}\n`);
        return;
      }
      await program.parseAsync(args, { from: 'user' });
    });
}
