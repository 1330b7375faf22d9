// A secret seen LEAVING an agent: what the sensor's content capture
// (sensor/content/) found in the bytes an agent process wrote to a socket or
// through TLS. It carries what DLP keeps (classes, offsets, fingerprints),
// never the bytes. The engine turns it into a `secret_egress` alert
// (critical) through the alert chain; see DetectionEngine.egressFinding.
import type { DlpClass } from '../dlp/types.js';

export const SECRET_EGRESS_RULE = 'secret_egress';

export interface EgressFinding {
  sensorId: string;
  agent: string;
  agentPid: number;
  pid: number;
  /** CLOCK_REALTIME ns of the write that completed it */
  tsNs: string;
  /** where it went: `addr:port`, and the Host header where HTTP said one */
  destination: string;
  host?: string;
  /** `tls` (plaintext through SSL_write) or `socket` (plain TCP/UDP) */
  channel: 'tls' | 'socket';
  /** what carried it, e.g. `POST /v1/chat/completions (JSON body)` or `raw bytes` */
  carrier: string;
  findings: {
    class: DlpClass;
    count: number;
    /** offsets in the scanned message (body or raw bytes) */
    offsets: number[];
    /** keyed hashes of the secrets found (DLP fingerprints), short prefixes */
    fingerprints: string[];
    encodings?: ('base64' | 'hex')[];
    /** the agent read this secret before (matched a read's fingerprint) */
    read?: boolean;
  }[];
}

/** The alert's subject: the destination (one alert per instance and destination within the dedup window). */
export function egressSubject(f: EgressFinding): string {
  return f.host && f.host !== f.destination ? `${f.host} (${f.destination})` : f.destination;
}

export function egressSummary(f: EgressFinding): string {
  const what = f.findings.map((x) => {
    const enc = x.encodings?.length ? ` as ${x.encodings.join('/')}` : '';
    const fp = x.fingerprints.length ? ` fp ${x.fingerprints.slice(0, 2).join(',')}` : '';
    return `${x.class}${enc} x${x.count} at ${x.offsets.slice(0, 4).join(',')}${fp}${x.read ? ' (read by the agent)' : ''}`;
  }).join('; ');
  return `${f.agent} sent ${what} to ${egressSubject(f)} over ${f.channel === 'tls' ? 'TLS' : 'a plain socket'} in ${f.carrier}`;
}
