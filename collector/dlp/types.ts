// Shapes shared by the DLP scanners.

export const DLP_CLASSES = [
  'private-key',
  'aws-access-key',
  'github-token',
  'gitlab-token',
  'slack-token',
  'stripe-key',
  'openai-key',
  'anthropic-key',
  'google-api-key',
  'jwt',
  'generic-secret',
  'us-ssn',
  'payment-card',
] as const;

export type DlpClass = (typeof DLP_CLASSES)[number];

/**
 * One secret found by a scanner, in memory only: `secret` is the secret's
 * bytes (what is fingerprinted) and never leaves the scanner's caller.
 */
export interface RawHit {
  class: DlpClass;
  /** byte offset of the match in the scanned content */
  start: number;
  end: number;
  /** the secret itself (for a PEM block: the block; for a key pair: the secret half) */
  secret: string;
  /** a larger block around the secret, as laid out in the content (PEM body): shingled */
  block?: string;
  /** set when the secret was found inside a decoded base64/hex run starting at `start` */
  encoding?: 'base64' | 'hex';
}

/**
 * A scanner over content decoded as latin1 (one char per byte, so string
 * indices are byte offsets). Linear in the text: every regex has a literal
 * anchor or a single bounded character class, and validation is per match.
 */
export type Scanner = (text: string) => RawHit[];
