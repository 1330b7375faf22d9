// Exit statuses every subcommand shares (documented in README.md, Commands).
//   0  done (verify: the chain is intact)
//   1  a runtime failure (verify: the store was TAMPERED with)
//   2  the command could not start as asked: a usage error, a config error,
//      a store or file it cannot open
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** An error whose message is the whole story: printed as one line, no stack, with its exit status. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode: number = EXIT_USAGE) {
    super(message);
  }
}
