// Option value parsers shared by the subcommands. They throw commander's
// InvalidArgumentError, so the message names the option it came from
// ("option '--stats-every <sec>' argument '-1' is invalid. ...").
import { InvalidArgumentError } from 'commander';

export function nonNegativeInt(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number, 0 or more');
  return n;
}

export function positiveInt(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError('expected a whole number above 0');
  return n;
}

/** for repeatable options: --agent-comm a --agent-comm b */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];
