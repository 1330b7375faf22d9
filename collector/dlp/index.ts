// Content DLP: scanners, fingerprints and the fingerprint matcher.
export { scanContent, DEFAULT_MAX_SCAN_BYTES, type DlpFinding, type DlpScan, type ScanOptions } from './scan-content.js';
export { fingerprintSecret, keyedHash, type ContentProbe, type SecretFingerprint } from './fingerprint.js';
export { FingerprintIndex, type FingerprintMatch } from './fingerprint-index.js';
export { DLP_CLASSES, type DlpClass } from './types.js';
