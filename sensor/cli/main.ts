// The `sensor` command line: every feature is a subcommand with --help.
// Each subcommand lives in ./commands/<name>.ts and registers itself here.
//
// A usage error prints the error and one line pointing at --help (not the
// whole help, which buries the error) and exits 2; see ./exit-codes.ts.
import { Command } from 'commander';
import { COMMANDS } from './commands/index.js';
import { EXIT_OK, EXIT_USAGE } from './exit-codes.js';
import { guardOutput } from '../output/stdout.js';

export async function main(argv: string[]): Promise<void> {
  guardOutput();
  const program = new Command('sensor')
    .description('Watch autonomous AI agents on this host: what they run, read, write and where they connect')
    .enablePositionalOptions()
    .configureOutput({ outputError: (str, write) => write(`sensor: ${str.replace(/^error: /, '')}`) })
    .exitOverride((err) => process.exit(err.exitCode === EXIT_OK ? EXIT_OK : EXIT_USAGE));
  for (const register of COMMANDS) register(program);
  program.showHelpAfterError('(`sensor --help` lists the commands)');
  for (const cmd of program.commands) cmd.showHelpAfterError(`(\`sensor ${cmd.name()} --help\` for usage)`);
  await program.parseAsync(argv);
}
