// The one glob dialect of agent-sensor, for argv rules (sensor/agents/
// argv-match.ts) and `sensor query --path` (collector/query): a pattern
// matches a whole string;
//   `*`   any run of characters except '/'
//   `**`  any run, '/' included; `**/` also matches no directory at all
//   `?`   one character except '/'
// Every other character stands for itself (`[`, `]`, `{` included).
// Shared here because the collector may not import sensor/ (import lines).
import type { ByteString } from './types.js';
import { toBytes } from './bytes.js';

export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*' && glob[i + 1] === '*') {
      if (glob[i + 2] === '/') {
        re += '(?:.*/)?';
        i += 2;
      } else {
        re += '.*';
        i += 1;
      }
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c!.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 's');
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The text a glob is matched against: valid UTF-8 as characters (so `?` is one
 * character, not one byte), anything else on its latin1 reading, one
 * character per byte, so a pattern can still reach every stored name.
 */
export function globText(value: ByteString | Uint8Array): string {
  if (typeof value === 'string') return value;
  const bytes = value instanceof Uint8Array ? value : toBytes(value);
  try {
    return utf8.decode(bytes);
  } catch {
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  }
}
