// Personal data: US social security numbers (AAA-GG-SSSS, with the SSA's
// never-issued areas, groups and serials excluded) and payment card numbers
// (13-19 digits, optionally grouped, with a known issuer range, a length that
// issuer uses, and the Luhn check digit). Public test numbers are excluded.
import type { RawHit } from './types.js';

const SSN = /(?<![0-9-])([0-9]{3})-([0-9]{2})-([0-9]{4})(?![0-9-])/g;
// Numbers used in advertising and documentation, never issued to a person.
const SSN_NOT_ISSUED = new Set(['078-05-1120', '219-09-9999', '123-45-6789', '457-55-5462']);

export function validSsn(area: string, group: string, serial: string): boolean {
  const a = Number(area);
  if (a === 0 || a === 666 || a >= 900) return false;
  if (group === '00' || serial === '0000') return false;
  const all = area + group + serial;
  if (/^(\d)\1+$/.test(all)) return false;
  return !SSN_NOT_ISSUED.has(`${area}-${group}-${serial}`);
}

export function scanSsns(text: string): RawHit[] {
  const hits: RawHit[] = [];
  SSN.lastIndex = 0;
  for (let m = SSN.exec(text); m; m = SSN.exec(text)) {
    if (!validSsn(m[1], m[2], m[3])) continue;
    hits.push({ class: 'us-ssn', start: m.index, end: m.index + m[0].length, secret: m[1] + m[2] + m[3] });
  }
  return hits;
}

export function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) { d *= 2; if (d > 9) d -= 9; }
    sum += d;
  }
  return sum % 10 === 0;
}

interface Issuer { name: string; lengths: number[]; matches: (d: string) => boolean }
const range = (lo: number, hi: number, n: number) => (d: string) => { const p = Number(d.slice(0, n)); return p >= lo && p <= hi; };
const lengths = (lo: number, hi: number) => Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);

export const ISSUERS: Issuer[] = [
  { name: 'visa', lengths: [13, 16, 19], matches: (d) => d[0] === '4' },
  { name: 'mastercard', lengths: [16], matches: (d) => range(51, 55, 2)(d) || range(2221, 2720, 4)(d) },
  { name: 'amex', lengths: [15], matches: (d) => d.startsWith('34') || d.startsWith('37') },
  { name: 'discover', lengths: lengths(16, 19), matches: (d) => d.startsWith('6011') || range(644, 649, 3)(d) || d.startsWith('65') || range(622126, 622925, 6)(d) },
  { name: 'jcb', lengths: lengths(16, 19), matches: range(3528, 3589, 4) },
  { name: 'diners', lengths: lengths(14, 19), matches: (d) => range(300, 305, 3)(d) || d.startsWith('3095') || d.startsWith('36') || range(38, 39, 2)(d) },
  { name: 'unionpay', lengths: lengths(16, 19), matches: (d) => d.startsWith('62') },
  { name: 'maestro', lengths: lengths(13, 19), matches: (d) => ['5018', '5020', '5038', '5893', '6304', '6759', '6761', '6762', '6763'].some((p) => d.startsWith(p)) },
  { name: 'mir', lengths: lengths(16, 19), matches: range(2200, 2204, 4) },
];

// Networks' published test numbers (Stripe, Braintree, Adyen docs...).
const TEST_PANS = new Set([
  '4111111111111111', '4242424242424242', '4012888888881881', '4222222222222', '4000056655665556', '4000000000000002',
  '5555555555554444', '5105105105105100', '5200828282828210', '2223003122003222', '378282246310005', '371449635398431',
  '378734493671000', '6011111111111117', '6011000990139424', '3530111333300000', '3566002020360505', '30569309025904',
  '38520000023237', '6200000000000005', '36227206271667',
]);

export function validCardNumber(digits: string): boolean {
  if (digits.length < 13 || digits.length > 19 || TEST_PANS.has(digits)) return false;
  if (!ISSUERS.some((i) => i.lengths.includes(digits.length) && i.matches(digits))) return false;
  if (new Set(digits).size < 4) return false; // 4444 4444 4444 4448 and the like
  return luhnValid(digits);
}

// Digits, optionally in groups split by one space or dash; the grouping is checked below.
const CARD = /(?<![0-9]|[0-9][ -])[0-9](?:[ -]?[0-9]){12,18}(?![0-9]|[ -][0-9])/g;
const GROUPINGS = new Set(['4-4-4-4', '4-4-4-4-3', '4-6-5', '4-6-4', '4-4-4-1', '4-4-4-2', '4-4-4-3', '4-4-4-4-1', '4-4-4-4-2', '4-4-5']);

export function scanCardNumbers(text: string): RawHit[] {
  const hits: RawHit[] = [];
  CARD.lastIndex = 0;
  for (let m = CARD.exec(text); m; m = CARD.exec(text)) {
    const s = m[0];
    const seps = s.replace(/[0-9]/g, '');
    if (seps.length > 0) {
      if (new Set(seps).size !== 1) continue;
      if (!GROUPINGS.has(s.split(seps[0]).map((g) => g.length).join('-'))) continue;
    }
    const digits = s.replace(/[ -]/g, '');
    if (!validCardNumber(digits)) continue;
    hits.push({ class: 'payment-card', start: m.index, end: m.index + s.length, secret: digits });
  }
  return hits;
}
