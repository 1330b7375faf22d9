// JSON Web Tokens (JWS compact form): three base64url parts, the header
// decodes to a JSON object with a string "alg", the payload to a JSON object,
// and there is a signature (an unsigned token grants nothing).
import { B64URL, inTable, runEnd } from './runs.js';
import { decodeBase64Url } from './text-checks.js';
import type { RawHit } from './types.js';

const START = /eyJ/g;
// Signatures of tokens printed in public documentation (jwt.io's HS256 example), quoted in countless tests.
const PUBLIC_EXAMPLE_SIGNATURES = new Set(['SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c']);
const MAX_PART = 8192;

function jsonObject(part: string): Record<string, unknown> | undefined {
  const bytes = decodeBase64Url(part);
  if (!bytes) return undefined;
  try {
    const v: unknown = JSON.parse(bytes.toString('utf8'));
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export function scanJwts(text: string): RawHit[] {
  const hits: RawHit[] = [];
  START.lastIndex = 0;
  for (let m = START.exec(text); m; m = START.exec(text)) {
    const start = m.index;
    const headerEnd = runEnd(text, start, B64URL);
    START.lastIndex = headerEnd + 1;
    if (inTable(text, start - 1, B64URL) || text[headerEnd] !== '.' || headerEnd - start > MAX_PART) continue;
    const payloadEnd = runEnd(text, headerEnd + 1, B64URL);
    if (text[payloadEnd] !== '.' || payloadEnd - headerEnd - 1 < 4 || payloadEnd - headerEnd > MAX_PART) continue;
    const sigEnd = runEnd(text, payloadEnd + 1, B64URL);
    if (sigEnd - payloadEnd - 1 < 16 || sigEnd - payloadEnd > MAX_PART) continue;
    START.lastIndex = sigEnd;
    if (PUBLIC_EXAMPLE_SIGNATURES.has(text.slice(payloadEnd + 1, sigEnd))) continue;
    const header = jsonObject(text.slice(start, headerEnd));
    if (!header || typeof header.alg !== 'string' || header.alg.toLowerCase() === 'none') continue;
    if (!jsonObject(text.slice(headerEnd + 1, payloadEnd))) continue;
    hits.push({ class: 'jwt', start, end: sigEnd, secret: text.slice(start, sigEnd) });
  }
  return hits;
}
