// Generic secrets in assignments: `API_KEY=…`, `"client_secret": "…"`,
// `password: …`, `token := "…"`, `Authorization: Bearer …`. The name must
// say secret, the value must look random (entropy floor, mixed characters)
// and not be a placeholder, a reference (`${X}`, `os.environ[...]`), a path
// or a code expression.
//
// Linear: the scan walks the '=' and ':' operators; the name is read
// backwards over a bounded identifier run, the value forwards, and operators
// inside a value already read are skipped, so no byte is read twice by the
// value reader.
import { charTable, inTable } from './runs.js';
import { charKinds, entropy, isPlaceholder } from './text-checks.js';
import type { RawHit } from './types.js';

const NAME_CHARS = charTable('A-Za-z0-9_.\\-');
const MAX_NAME = 64;
const MAX_VALUE = 256;
const SECRET_NAME = /(?:secret|token|passw(?:or)?d|passwd|pwd|api[_.-]?key|apikey|access[_.-]?key|private[_.-]?key|auth[_.-]?key|signing[_.-]?key|encryption[_.-]?key|session[_.-]?key|master[_.-]?key|credentials?|authorization|bearer|conn(?:ection)?[_.-]?string|dsn)/i;
// Names that mention a secret but hold something else about it.
const NOT_SECRET_NAME = /(?:file|path|dir|url|uri|endpoint|name|type|length|len|size|count|prefix|suffix|header|field|ttl|expir\w*|expires|timeout|min|max|hint|label|policy|regex|pattern|env|var|limit|id|ids|usage|tokens|tokenizer|required|enabled|method|mode|store|provider|helper|validator|format)$/i;
const PASSWORD_NAME = /passw(?:or)?d|passwd|pwd/i;
const VALUE_END = charTable(' \t\r\n\'"`,;)}]#<>');

function readName(text: string, op: number): { name: string; start: number } | undefined {
  let i = op - 1;
  let spaces = 0;
  while (i >= 0 && (text[i] === ' ' || text[i] === '\t') && spaces < 8) { i--; spaces++; }
  if (i >= 0 && (text[i] === '"' || text[i] === "'")) i--;
  const end = i + 1;
  let n = 0;
  while (i >= 0 && inTable(text, i, NAME_CHARS) && n < MAX_NAME) { i--; n++; }
  if (n === 0 || n >= MAX_NAME) return undefined;
  return { name: text.slice(i + 1, end), start: i + 1 };
}

function readValue(text: string, from: number, hops = 0): { value: string; start: number; end: number } | undefined {
  let i = from;
  if (text[i] === '=' || text[i] === '>') i++; // ":=", "=>", "=="
  let spaces = 0;
  while (i < text.length && (text[i] === ' ' || text[i] === '\t') && spaces < 8) { i++; spaces++; }
  const quote = text[i] === '"' || text[i] === "'" || text[i] === '`' ? text[i] : undefined;
  if (quote) {
    const start = i + 1;
    let j = start;
    while (j < text.length && j - start <= MAX_VALUE && text[j] !== quote && text[j] !== '\n') j++;
    if (text[j] !== quote) return undefined;
    // "Bearer <token>" inside quotes: the credential is what follows the scheme
    const scheme = /^(?:Bearer|Basic|token|Token) +/.exec(text.slice(start, Math.min(j, start + 16)));
    const from = scheme ? start + scheme[0].length : start;
    return { value: text.slice(from, j), start: from, end: j };
  }
  const start = i;
  let j = start;
  while (j < text.length && j - start <= MAX_VALUE && !inTable(text, j, VALUE_END)) j++;
  // "Bearer <token>" / "Basic <token>" / "token <token>": the credential is the next word.
  const word = text.slice(start, j);
  if (hops === 0 && /^(?:Bearer|Basic|token|Token)$/.test(word) && text[j] === ' ') return readValue(text, j + 1, 1);
  return { value: word, start, end: j };
}

const IDENTIFIER_PATH = /^[A-Za-z_$][A-Za-z0-9_$]*(?:(?:\.|::|->)[A-Za-z_$][A-Za-z0-9_$]*)+$/;
// A type or variable name made of words (`OAuth2Client`, `GoogleCredentials`), not random characters.
// Words of 3+ lower-case letters, short acronyms and 1-2 digits, one word of 4+:
// 0.7 % of random 12-character base62 values pass as one, 0.06 % at 20.
const WORDY_IDENTIFIER = /^(?=.*[a-z]{4})(?:[A-Z]?[a-z]{3,}|[A-Z]{1,5}(?=[A-Z][a-z]{2})|[A-Z]{2,5}$|[0-9]{1,2})+$/;
// A dictionary word with a few digits or symbols: a sample password in docs and tests.
const WEAK_SAMPLE = /^(?:secret|password|passw0rd|pass|admin|test|demo|guest|root|user|changeme|letmein|welcome|qwerty|default|hunter|example|foo|bar)[0-9!@#$_.-]*$/i;

export function looksLikeSecretValue(value: string, passwordName: boolean): boolean {
  const min = passwordName ? 8 : 12;
  if (value.length < min || value.length > MAX_VALUE) return false;
  if (isPlaceholder(value) || IDENTIFIER_PATH.test(value) || WEAK_SAMPLE.test(value)) return false;
  if (value.length <= 40 && WORDY_IDENTIFIER.test(value)) return false;
  if (/[\s()\[\]{}$%\\]/.test(value) || /^(?:\/|\.\/|~\/|https?:|file:)/i.test(value)) return false;
  if (/^[0-9.:-]+$/.test(value)) return false; // numbers, versions, dates, addresses
  const h = entropy(value);
  // hex has 16 symbols: 32 random hex characters average ~3.6 bits, so its floor is lower
  const floor = /^[0-9a-fA-F]+$/.test(value) ? 3.0 : value.length >= 20 ? 3.5 : 3.0;
  if (h < floor) return false;
  const kinds = charKinds(value);
  if (/[0-9]/.test(value) && /[A-Za-z]/.test(value)) return kinds >= 2;
  // letters only: a long random-looking run, not a word or an identifier
  return value.length >= 24 && h >= 4.0 && kinds >= 2 && !/[_.]/.test(value) && !/^[A-Z]?[a-z]+(?:[A-Z][a-z]+)+$/.test(value);
}

export function scanGenericSecrets(text: string): RawHit[] {
  const hits: RawHit[] = [];
  const OP = /[=:]/g;
  let consumedTo = 0;
  for (let m = OP.exec(text); m; m = OP.exec(text)) {
    const op = m.index;
    if (op < consumedTo) continue;
    if (text[op] === ':' && text[op + 1] === '/' ) continue; // "scheme://"
    const name = readName(text, op);
    if (!name || !SECRET_NAME.test(name.name) || NOT_SECRET_NAME.test(name.name)) continue;
    const value = readValue(text, op + 1);
    if (!value) continue;
    consumedTo = value.end;
    OP.lastIndex = Math.max(OP.lastIndex, value.end);
    if (!looksLikeSecretValue(value.value, PASSWORD_NAME.test(name.name))) continue;
    hits.push({ class: 'generic-secret', start: value.start, end: value.end, secret: value.value });
  }
  return hits;
}
