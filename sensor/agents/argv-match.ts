// How an interpreter's command line is recognised as an agent (argv rules).
//
// A pattern matches when
//   - it is a glob and matches ONE argument whole: `*` any run of characters
//     except '/', `**` any run including '/', `?` one character except '/',
//     `**/` also matches no directory at all. So "**/claude-code/cli.js"
//     matches "/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js".
//   - it starts with "re:" and the rest, a JavaScript regular expression,
//     matches somewhere in the command line joined with single spaces
//     (e.g. "re:-m\\s+my_agent\\b").
// Arguments that are not valid UTF-8 are matched on their latin1 reading.
import type { ByteString } from '../../proto/events/types.js';
import { toBytes } from '../../proto/events/bytes.js';
import { globToRegExp } from '../../proto/events/glob.js';

export { globToRegExp }; // the dialect lives in proto/events/glob.ts, shared with `sensor query --path`

export type ArgvMatcher = (argv: ByteString[]) => boolean;

export function compileArgvPattern(pattern: string): ArgvMatcher {
  if (pattern.startsWith('re:')) {
    const re = new RegExp(pattern.slice(3), 's');
    return (argv) => re.test(argv.map(argText).join(' '));
  }
  const re = globToRegExp(pattern);
  return (argv) => argv.some((a) => re.test(argText(a)));
}

function argText(a: ByteString): string {
  return typeof a === 'string' ? a : toBytes(a).toString('latin1');
}
