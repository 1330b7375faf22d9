// The `sensor` command line: every feature is a subcommand with --help.
// Each subcommand lives in ./commands/<name>.ts and registers itself here.
import { Command } from 'commander';
import { COMMANDS } from './commands/index.js';

export async function main(argv: string[]): Promise<void> {
  const program = new Command('sensor')
    .description('Watch autonomous AI agents on this host: what they run, read, write and where they connect')
    .showHelpAfterError()
    .enablePositionalOptions();
  for (const register of COMMANDS) register(program);
  await program.parseAsync(argv);
}
