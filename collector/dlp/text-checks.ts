// Small checks the scanners share: character classes at a boundary, Shannon
// entropy, placeholder values, base64url decoding.

/** Shannon entropy in bits per character. */
export function entropy(s: string): number {
  if (s.length === 0) return 0;
  const counts = new Map<number, number>();
  for (let i = 0; i < s.length; i++) counts.set(s.charCodeAt(i), (counts.get(s.charCodeAt(i)) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

const WORD = /[A-Za-z0-9_]/;
/** True when the char before `start` / at `end` is not a word character (or is outside the text). */
export function wordBoundaryBefore(text: string, start: number): boolean {
  return start === 0 || !WORD.test(text[start - 1]);
}
export function wordBoundaryAfter(text: string, end: number): boolean {
  return end >= text.length || !WORD.test(text[end]);
}

/** Kinds of characters present: lower, upper, digit. */
export function charKinds(s: string): number {
  return (/[a-z]/.test(s) ? 1 : 0) + (/[A-Z]/.test(s) ? 1 : 0) + (/[0-9]/.test(s) ? 1 : 0);
}

// Values that stand in for a secret in docs, templates and tests.
const PLACEHOLDER = new RegExp(
  [
    'example', 'sample', 'dummy', 'placeholder', 'changeme', 'change_me', 'change-me', 'replace', 'your[_-]?',
    'insert', 'redacted', 'xxxx', '\\*\\*\\*', '<[^>]*>', '\\$\\{', '\\{\\{', '%\\(', '\\$[A-Z_]{3,}', 'process\\.env',
    'os\\.environ', 'getenv', 'secret_?here', 'todo', 'fixme', 'not[_-]?(?:a[_-]?)?(?:real|set)', 'fake', 'test[_-]?(?:key|token|secret)',
    '^(?:null|none|nil|true|false|undefined|password|secret|token)$', '(.)\\1{5,}', '0123456|123456|qwerty',
  ].join('|'),
  'i',
);

export function isPlaceholder(value: string): boolean {
  return PLACEHOLDER.test(value);
}

/** Decodes base64url (or standard base64) text; undefined when it is not well-formed. */
export function decodeBase64Url(s: string): Buffer | undefined {
  if (!/^[A-Za-z0-9_\-+/]*={0,2}$/.test(s) || s.length % 4 === 1) return undefined;
  return Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}
