// `sensor ui [--listen 127.0.0.1:PORT] [--state-dir D]`: a local web console
// over the collector's store (read-only) on loopback, behind a per-start
// token printed in its URL. Its only writes are the containment buttons.
import { InvalidArgumentError, Option, type Command } from 'commander';
import { DEFAULT_STATE_DIR } from '../../../collector/store/schema.js';
import { DEFAULT_COLLECTOR_ADDRESS } from '../../../proto/transport/address.js';
import { parseListen } from '../../ui/access.js';
import { startUiServer } from '../../ui/server.js';
import { openStoreReadOnly } from '../open-store.js';

interface UiOptions {
  listen: { host: string; port: number };
  stateDir: string;
  collector: string;
}

function listenArg(v: string): { host: string; port: number } {
  try {
    return parseListen(v);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

async function runUi(opts: UiOptions): Promise<void> {
  const store = openStoreReadOnly(opts.stateDir);
  const ui = await startUiServer({ db: store.database, stateDir: opts.stateDir, collector: opts.collector, ...opts.listen });
  process.stdout.write(`sensor ui: open ${ui.url}\n(the token in the URL is new at each start; requests without it are refused)\n`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await ui.close();
  await store.close();
}

export function register(program: Command): void {
  program
    .command('ui')
    .description('Serve a local web console (loopback, token in the printed URL): agents, alerts with evidence and containment, timelines, baselines')
    .addOption(new Option('--listen <host:port>', 'loopback address to listen on (port 0: any free port)')
      .argParser(listenArg).default({ host: '127.0.0.1', port: 8377 }, '127.0.0.1:8377'))
    .option('--state-dir <dir>', 'the collector\'s state directory', DEFAULT_STATE_DIR)
    .option('--collector <addr>', 'collector to ask for loss counters (as `sensor status`)', DEFAULT_COLLECTOR_ADDRESS)
    .addHelpText('after', '\nSecurity: listens on loopback only (a non-loopback --listen is refused: no TLS or login here; use an SSH tunnel).\n' +
      'Every request needs the random token of this start (URL, then an HttpOnly SameSite=Strict cookie); isolate/freeze/release\n' +
      'need it in an X-Sensor-Token header from the same origin, plus confirmation.')
    .action(runUi);
}
