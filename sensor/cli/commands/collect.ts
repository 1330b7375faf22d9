// `sensor collect --agent-pid N --out FILE.tar.gz` writes an evidence bundle
// of one agent instance (see sensor/response/evidence-bundle.ts for its
// items); `sensor collect --check FILE` re-verifies one.
import type { Command } from 'commander';
import { closeSync, constants as C, openSync, readFileSync, writeSync } from 'node:fs';
import { DEFAULT_STATE_DIR } from '../../../collector/store/schema.js';
import { checkBundle } from '../../response/bundle-check.js';
import { collectEvidence } from '../../response/evidence-bundle.js';
import { openStoreIfAny } from '../../response/instances.js';
import { pidArg, UsageError } from './isolate.js';
import { launchedRoot } from './timeline.js';

interface CollectOptions {
  stateDir: string;
  agentPid?: number;
  out?: string;
  check?: string;
  json?: boolean;
}

async function runCollect(opts: CollectOptions): Promise<void> {
  if (opts.check !== undefined) {
    if (opts.agentPid !== undefined || opts.out !== undefined) throw new UsageError('--check takes no --agent-pid or --out');
    let file: Buffer;
    try {
      file = readFileSync(opts.check);
    } catch (err) {
      process.stdout.write(`cannot read ${opts.check}: ${(err as Error).message}\n`);
      process.exitCode = 2;
      return;
    }
    const v = checkBundle(file);
    process.stdout.write(opts.json ? `${JSON.stringify(v)}\n` : `${v.lines.join('\n')}\n`);
    process.exitCode = v.exitCode;
    return;
  }
  if (opts.agentPid === undefined || opts.out === undefined) throw new UsageError('collect needs --agent-pid N and --out FILE.tar.gz (or --check FILE)');
  const db = openStoreIfAny(opts.stateDir);
  let r;
  try {
    r = collectEvidence({ agentPid: launchedRoot(opts.agentPid), db, stateDir: db ? opts.stateDir : null });
  } finally {
    db?.close();
  }
  // O_EXCL: never overwrite (or follow a planted link to) an existing file.
  let fd: number;
  try {
    fd = openSync(opts.out, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
  } catch (err) {
    throw new Error(`cannot create ${opts.out}: ${(err as Error).message}${(err as NodeJS.ErrnoException).code === 'EEXIST' ? ' (it exists; choose another name)' : ''}`);
  }
  try {
    writeSync(fd, r.bundle);
  } finally {
    closeSync(fd);
  }
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ out: opts.out, bytes: r.bundle.length, manifestSha256: r.manifestSha256, items: r.manifest.items.length, notes: r.notes })}\n`);
  } else {
    process.stdout.write(`wrote ${opts.out}: ${r.manifest.items.length} items, ${r.bundle.length} bytes; manifest sha256 ${r.manifestSha256}\n`);
    for (const n of r.notes) process.stdout.write(`note: ${n}\n`);
  }
}

export function register(program: Command): void {
  program
    .command('collect')
    .description('Write an evidence bundle (tar.gz) of an agent instance, or re-verify one with --check')
    .option('--state-dir <dir>', 'the collector\'s state directory', DEFAULT_STATE_DIR)
    .option('--agent-pid <pid>', 'the instance whose root process (agentPid) this is', pidArg)
    .option('--out <file>', 'bundle to write (created, never overwritten)')
    .option('--check <file>', 're-verify a bundle: every manifest item against its SHA-256')
    .option('--json', 'machine-readable result')
    .addHelpText('after', '\nExit (--check): 0 verified, 1 an item is altered, missing or extra, 2 not a readable bundle.\nExit (collect): 0 written, 1 error, 2 bad arguments.')
    .action(runCollect);
}
