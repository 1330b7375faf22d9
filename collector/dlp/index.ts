// Content DLP: scanners, fingerprints and the fingerprint matcher.
//
// Wiring (not done here; see the issue-12 report):
//   const scan = scanContent(bytes, storeKey, { maxBytes, shingles: index.hasShingles });
//   - run it where the SHA-256 pass reads the file (collector/hashing), off the
//     ingest path, on the same bounded bytes; it is synchronous CPU (~1 ms per
//     4 KiB, ~25 ms per 256 KiB on a loaded core): keep it on the hash worker;
//   - store scan.findings (class, count, offsets, fingerprints) under the hash
//     chain with the file's row; never scan.probe (drop it after matching);
//   - matches = index.match(scan.probe): earlier secrets this content holds
//     (renamed copy, pasted, base64/hex of a file holding them); then
//     index.add(findingRef, fp) for each new fingerprint. Load the index from
//     the store's fingerprints at start.
export { scanContent, DEFAULT_MAX_SCAN_BYTES, type DlpFinding, type DlpScan, type ScanOptions } from './scan-content.js';
export { fingerprintSecret, keyedHash, type ContentProbe, type SecretFingerprint } from './fingerprint.js';
export { FingerprintIndex, type FingerprintMatch } from './fingerprint-index.js';
export { DLP_CLASSES, type DlpClass } from './types.js';
