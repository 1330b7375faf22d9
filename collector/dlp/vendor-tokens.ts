// Tokens with a vendor prefix: GitHub (with its CRC-32 checksum), GitLab,
// Slack, Stripe live keys, OpenAI- and Anthropic-style keys, Google API keys.
// Each body is validated beyond its alphabet: exact lengths where the format
// fixes them, the checksum where there is one, and otherwise an entropy floor
// and the placeholder list, so `sk-xxxxxxxx...` in a README is not a key.
import { crc32 } from 'node:zlib';
import { ALNUM, B64URL, charTable, inTable, prefixedTokens, WORDISH } from './runs.js';
import { charKinds, entropy, isPlaceholder } from './text-checks.js';
import type { DlpClass, RawHit } from './types.js';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** GitHub's token checksum: CRC-32 of the random part, base62, left-padded to 6. */
export function githubChecksum(random: string): string {
  let c = crc32(random);
  let s = '';
  while (c > 0) {
    s = BASE62[c % 62] + s;
    c = Math.floor(c / 62);
  }
  return s.padStart(6, '0');
}

// Hex bodies (16 symbols) cannot reach the entropy of base62 ones: their floor is capped.
const randomLooking = (body: string, minEntropy: number) =>
  charKinds(body) >= 2 && entropy(body) >= (/^[0-9a-f]+$/i.test(body) ? Math.min(minEntropy, 3.0) : minEntropy) && !isPlaceholder(body);

function hit(cls: DlpClass, text: string, start: number, end: number): RawHit {
  return { class: cls, start, end, secret: text.slice(start, end) };
}

const NOT_BEFORE = WORDISH;
const DASHED = charTable('A-Za-z0-9_\\-');

function scanGitHub(text: string, out: RawHit[]) {
  for (const t of prefixedTokens(text, /gh[pousr]_/g, ALNUM, NOT_BEFORE)) {
    const body = text.slice(t.bodyStart, t.end);
    if (body.length !== 36 || inTable(text, t.end, WORDISH)) continue;
    if (githubChecksum(body.slice(0, 30)) !== body.slice(30)) continue;
    out.push(hit('github-token', text, t.start, t.end));
  }
  // Fine-grained tokens: 22 + '_' + 59; their checksum is not public, so the
  // exact shape and an entropy floor stand in for it.
  for (const t of prefixedTokens(text, /github_pat_/g, WORDISH, NOT_BEFORE)) {
    const body = text.slice(t.bodyStart, t.end);
    if (!/^[A-Za-z0-9]{22}_[A-Za-z0-9]{59}$/.test(body) || !randomLooking(body, 4.5)) continue;
    out.push(hit('github-token', text, t.start, t.end));
  }
}

function scanGitLab(text: string, out: RawHit[]) {
  const body = charTable('A-Za-z0-9_\\-.');
  for (const t of prefixedTokens(text, /gl(?:pat|dt|rt|ptt|ft|soat|cbt|oas)-/g, body, DASHED)) {
    let end = t.end;
    while (end > t.bodyStart && text[end - 1] === '.') end--; // a sentence's full stop
    const b = text.slice(t.bodyStart, end);
    const random = b.split('.')[0];
    if (random.length < 20 || b.length > 120 || !randomLooking(random, 3.5)) continue;
    out.push(hit('gitlab-token', text, t.start, end));
  }
}

function scanSlack(text: string, out: RawHit[]) {
  for (const t of prefixedTokens(text, /xox[baprs]-/g, DASHED, DASHED)) {
    const b = text.slice(t.bodyStart, t.end);
    const parts = b.split('-');
    const numeric = parts.filter((p) => /^[0-9]{8,14}$/.test(p)).length;
    const last = parts[parts.length - 1];
    if (b.length > 250 || numeric < 1 || !/^[A-Za-z0-9]{24,64}$/.test(last) || !randomLooking(last, 3.5)) continue;
    if (/^xox[bp]-$/.test(t.prefix) && numeric < 2) continue; // bot and user tokens carry two ids
    out.push(hit('slack-token', text, t.start, t.end));
  }
}

function scanStripe(text: string, out: RawHit[]) {
  for (const t of prefixedTokens(text, /(?:sk|rk)_live_/g, ALNUM, NOT_BEFORE)) {
    const b = text.slice(t.bodyStart, t.end);
    if (b.length < 24 || b.length > 247 || inTable(text, t.end, WORDISH) || !randomLooking(b, 3.8)) continue;
    out.push(hit('stripe-key', text, t.start, t.end));
  }
}

// "T3BlbkFJ" is base64 of "OpenAI": OpenAI embeds it in its keys.
const OPENAI_MARK = 'T3BlbkFJ';

function scanOpenAiAndAnthropic(text: string, out: RawHit[]) {
  for (const t of prefixedTokens(text, /sk-/g, DASHED, DASHED)) {
    const b = text.slice(t.bodyStart, t.end);
    if (b.length > 400) continue;
    const ant = /^ant-([a-z]{2,8})(\d{2})-([A-Za-z0-9_-]+)$/.exec(b);
    if (ant) {
      const random = ant[3];
      if (random.length < 80 || random.length > 128 || !randomLooking(random, 4.5)) continue;
      // api and admin keys end in "AA" (the format's fixed trailer)
      if ((ant[1] === 'api' || ant[1] === 'admin') && !random.endsWith('AA')) continue;
      out.push(hit('anthropic-key', text, t.start, t.end));
      continue;
    }
    if (b.startsWith('ant-')) continue;
    const proj = /^(?:proj|svcacct|admin|None)-([A-Za-z0-9_-]{40,})$/.exec(b);
    if (proj) {
      if (!(proj[1].includes(OPENAI_MARK) || (proj[1].length >= 80 && randomLooking(proj[1], 4.5)))) continue;
      if (!randomLooking(proj[1], 4.0)) continue;
      out.push(hit('openai-key', text, t.start, t.end));
      continue;
    }
    // Legacy keys: 48 alphanumerics, usually 20 + T3BlbkFJ + 20.
    if (/^[A-Za-z0-9]{48}$/.test(b) && (b.slice(20, 28) === OPENAI_MARK || randomLooking(b, 4.5)) && randomLooking(b, 4.0)) {
      out.push(hit('openai-key', text, t.start, t.end));
    }
  }
}

function scanGoogle(text: string, out: RawHit[]) {
  for (const t of prefixedTokens(text, /AIza/g, B64URL, DASHED)) {
    const b = text.slice(t.bodyStart, t.end);
    if (b.length !== 35 || !randomLooking(b, 4.0)) continue;
    out.push(hit('google-api-key', text, t.start, t.end));
  }
}

export function scanVendorTokens(text: string): RawHit[] {
  const out: RawHit[] = [];
  scanGitHub(text, out);
  scanGitLab(text, out);
  scanSlack(text, out);
  scanStripe(text, out);
  scanOpenAiAndAnthropic(text, out);
  scanGoogle(text, out);
  return out;
}
