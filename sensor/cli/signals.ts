// Stopping on SIGINT/SIGTERM, as a person at a terminal expects: the first
// signal says at once that the command is stopping (draining can take
// seconds), a second one forces the stop, after `force` printed what it
// knows (a forced stop must not hide what was lost).
export const FORCED_EXIT_CODE = 130; // 128 + SIGINT, as shells report an interrupted command

/** Resolves on the first SIGINT/SIGTERM; a second calls `force` and exits. */
export function untilSignal(force: () => void = () => undefined): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let stopping = false;
    const on = (sig: NodeJS.Signals): void => {
      if (stopping) {
        process.stderr.write('sensor: forced stop\n');
        try {
          force();
        } finally {
          process.exit(FORCED_EXIT_CODE);
        }
      }
      stopping = true;
      process.stderr.write(`sensor: stopping… (${sig === 'SIGINT' ? 'Ctrl-C' : 'signal'} again to force)\n`);
      resolve(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}
