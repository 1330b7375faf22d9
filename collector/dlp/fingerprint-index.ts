// Which known secrets a new content holds: an in-memory index over stored
// fingerprints. The lead loads it from the store's fingerprints at start and
// adds each new finding's; a scan's probe is matched against it.
//
// Exact: any hash of the probe equal to any stored form of a secret is a
// match (the secret, or its encoding as a value). Shingles: a secret matches
// when, for one of its forms, at least half of its stored shingles (and at
// least MIN_SHINGLE_HITS, or all when it has fewer) are in the probe. Half,
// not one: different keys of one type share their DER/OpenSSH structure
// (a quarter of a short ed25519 key), never most of it.
import type { ContentProbe, ExactForm, SecretFingerprint, ShingleForm } from './fingerprint.js';

export const MIN_SHINGLE_CONTAINMENT = 0.5;
export const MIN_SHINGLE_HITS = 3;

export interface FingerprintMatch {
  /** what the caller registered the secret under (e.g. a finding id) */
  ref: string;
  via: 'exact' | 'shingles';
  /** the form that matched: the secret itself, an encoding, or a base64 alignment */
  form: ExactForm | ShingleForm;
  /** for shingles: the fraction of that form's shingles found */
  containment: number;
}

interface Entry {
  ref: string;
  sets: { form: ShingleForm; size: number }[];
}

export class FingerprintIndex {
  private readonly entries: Entry[] = [];
  private readonly exact = new Map<string, { entry: number; form: ExactForm }[]>();
  private readonly shingles = new Map<string, { entry: number; set: number }[]>();

  get size(): number {
    return this.entries.length;
  }

  /** false while no secret has shingles: a scan may then skip them (ScanOptions.shingles) */
  get hasShingles(): boolean {
    return this.shingles.size > 0;
  }

  add(ref: string, fp: SecretFingerprint): void {
    const entry = this.entries.length;
    this.entries.push({ ref, sets: fp.shingles.map((s) => ({ form: s.form, size: s.hashes.length })) });
    for (const e of fp.exact) {
      const list = this.exact.get(e.hash) ?? [];
      list.push({ entry, form: e.form });
      this.exact.set(e.hash, list);
    }
    fp.shingles.forEach((s, set) => {
      for (const h of s.hashes) {
        const list = this.shingles.get(h) ?? [];
        list.push({ entry, set });
        this.shingles.set(h, list);
      }
    });
  }

  /** Known secrets the probe holds, one match per secret (exact preferred), best first. */
  match(probe: ContentProbe): FingerprintMatch[] {
    const best = new Map<number, FingerprintMatch>();
    for (const h of probe.exact) {
      for (const { entry, form } of this.exact.get(h) ?? []) {
        if (!best.has(entry) || best.get(entry)!.via !== 'exact' || form === 'raw') {
          best.set(entry, { ref: this.entries[entry].ref, via: 'exact', form, containment: 1 });
        }
      }
    }
    const counts = new Map<number, Map<number, number>>();
    for (const h of probe.shingles) {
      for (const { entry, set } of this.shingles.get(h) ?? []) {
        if (best.get(entry)?.via === 'exact') continue;
        const perSet = counts.get(entry) ?? new Map<number, number>();
        perSet.set(set, (perSet.get(set) ?? 0) + 1);
        counts.set(entry, perSet);
      }
    }
    for (const [entry, perSet] of counts) {
      for (const [set, hits] of perSet) {
        const { form, size } = this.entries[entry].sets[set];
        const containment = hits / size;
        if (hits < Math.min(MIN_SHINGLE_HITS, size) || containment < MIN_SHINGLE_CONTAINMENT) continue;
        const prev = best.get(entry);
        if (!prev || containment > prev.containment) best.set(entry, { ref: this.entries[entry].ref, via: 'shingles', form, containment });
      }
    }
    return [...best.values()].sort((a, b) => (a.via === b.via ? b.containment - a.containment : a.via === 'exact' ? -1 : 1));
  }
}
