// One OCSF record as an RFC 5424 syslog message, framed by octet counting
// (RFC 6587 3.4.1): "<length> <message>". The header carries only values we
// build from a fixed alphabet; everything an agent controls (paths, argv,
// names) is inside the JSON of MSG, where JSON escaping turns every line
// break and control character into \n or \uXXXX. The frame length counts
// bytes, so no content can end a record early or start another.
import type { ForwardRecord } from './ocsf-common.js';
import { OCSF_CLASS } from './ocsf-events.js';

export const APP_NAME = 'agent-sensor';
/** RFC 5424 SD-ID with the enterprise number RFC 5612 reserves for documentation */
export const SD_ID = 'ocsf@32473';
const FACILITY_LOCAL0 = 16;

const MSGID: Record<number, string> = {
  [OCSF_CLASS.processActivity]: 'process_activity',
  [OCSF_CLASS.fileSystemActivity]: 'file_system_activity',
  [OCSF_CLASS.networkActivity]: 'network_activity',
  [OCSF_CLASS.dnsActivity]: 'dns_activity',
  [OCSF_CLASS.detectionFinding]: 'detection_finding',
};

/** OCSF severity_id -> syslog severity (0 emergency .. 7 debug). */
function syslogSeverity(severityId: number): number {
  switch (severityId) {
    case 1: return 6; // informational
    case 2: return 5; // low: notice
    case 3: return 4; // medium: warning
    case 4: return 3; // high: error
    case 5: return 2; // critical
    case 6: return 1; // fatal: alert
    default: return 5;
  }
}

/** HOSTNAME, APP-NAME, MSGID: PRINTUSASCII (33..126) only, bounded; else the nil value. */
export function headerToken(value: string, max: number): string {
  const clean = value.replace(/[^\x21-\x7e]/g, '_').slice(0, max);
  return clean.length > 0 ? clean : '-';
}

/** SD-PARAM value: '"', '\' and ']' escaped (RFC 5424 6.3.3); control characters replaced. */
export function sdValue(value: string): string {
  // eslint-disable-next-line no-control-regex
  return value.replace(/[\x00-\x1f\x7f]/g, '?').replace(/["\\\]]/g, (c) => `\\${c}`);
}

/** TIMESTAMP: RFC 3339 in UTC with microseconds (5424 allows at most 6 fraction digits). */
export function syslogTime(tsNs: bigint): string {
  const ms = Number(tsNs / 1_000_000n);
  const micros = Number((tsNs / 1000n) % 1_000_000n);
  return `${new Date(ms).toISOString().slice(0, 19)}.${String(micros).padStart(6, '0')}Z`;
}

/**
 * JSON with every character a log pipeline might treat specially escaped:
 * JSON.stringify leaves DEL, the C1 controls and U+2028/9 raw; they become
 * \uXXXX too, so MSG is printable and single-line whatever the content.
 */
export function safeJson(value: unknown): string {
  // eslint-disable-next-line no-control-regex
  return JSON.stringify(value).replace(/[\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function syslogMessage(r: ForwardRecord): string {
  const pri = FACILITY_LOCAL0 * 8 + syslogSeverity(r.severityId);
  const sd = `[${SD_ID} class_uid="${r.classUid}" uid="${sdValue(r.uid)}"]`;
  const msgid = MSGID[r.classUid] ?? `ocsf_${r.classUid}`;
  return `<${pri}>1 ${syslogTime(r.tsNs)} ${headerToken(r.sensorId, 255)} ${APP_NAME} - ${msgid} ${sd} ${safeJson(r.ocsf)}`;
}

/** "<octets> <message>": the length in bytes of the UTF-8 message. */
export function octetFrame(message: string): Buffer {
  const body = Buffer.from(message, 'utf8');
  return Buffer.concat([Buffer.from(`${body.length} `, 'ascii'), body]);
}
