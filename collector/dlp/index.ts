// Content DLP: scanners, fingerprints and the fingerprint matcher.
//
// Wired in collector/store/dlp-rows.ts: the hasher keeps the first 256 KiB it
// read (same rights rule), FileRows scans them before its transaction,
// stores the findings (never the secret, never the probe) in file_dlp under
// the file link's chained content, matches the probe against the
// FingerprintIndex loaded from every stored finding at start, and hands the
// result to the detection engine's content feed.
export { scanContent, DEFAULT_MAX_SCAN_BYTES, type DlpFinding, type DlpScan, type ScanOptions } from './scan-content.js';
export { fingerprintSecret, keyedHash, type ContentProbe, type SecretFingerprint } from './fingerprint.js';
export { FingerprintIndex, type FingerprintMatch } from './fingerprint-index.js';
export { DLP_CLASSES, type DlpClass } from './types.js';
