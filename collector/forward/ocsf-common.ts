// What every OCSF record the forwarder writes shares: the schema version, the
// product, the device (the sensor that saw it), the agent as actor.app_name,
// and the rule for byte strings that are not UTF-8. See OCSF.md.
import { constants } from 'node:os';
import { toBytes } from '../../proto/events/bytes.js';
import type { ByteString } from '../../proto/events/types.js';

export const OCSF_VERSION = '1.3.0';

/** The JSON object a forwarder output receives, with what outputs index on beside it. */
export interface ForwardRecord {
  /** the OCSF event */
  ocsf: OcsfObject;
  /** stable across resends: what makes at-least-once deduplicable downstream */
  uid: string;
  classUid: number;
  /** the sensor that saw it (device.uid) */
  sensorId: string;
  tsNs: bigint;
  /** 1..6 as OCSF severity_id */
  severityId: number;
}

export type OcsfObject = { [key: string]: OcsfValue };
export type OcsfValue = string | number | boolean | null | OcsfValue[] | OcsfObject;

export interface ProductInfo {
  version: string;
}

export const SEVERITY = {
  informational: 1, low: 2, medium: 3, high: 4, critical: 5,
} as const;
const SEVERITY_NAME: Record<number, string> = { 0: 'Unknown', 1: 'Informational', 2: 'Low', 3: 'Medium', 4: 'High', 5: 'Critical', 6: 'Fatal', 99: 'Other' };
export const severityName = (id: number): string => SEVERITY_NAME[id] ?? 'Other';

/**
 * Text for an OCSF string field from kernel bytes. Valid UTF-8 is kept as is
 * (JSON escapes its control characters); other bytes are written as \xNN so
 * the field stays readable, and the exact bytes go to unmapped.raw_b64.<name>
 * so nothing is lost or guessed.
 */
export function ocsfText(value: ByteString, name: string, raw: OcsfObject): string {
  if (typeof value === 'string') return value;
  raw[name] = value.b64;
  const bytes = toBytes(value);
  const fatal = new TextDecoder('utf-8', { fatal: true });
  let out = '';
  for (let i = 0; i < bytes.length;) {
    const b = bytes[i]!;
    const len = b < 0x80 ? 1 : b >= 0xf0 && b <= 0xf4 ? 4 : b >= 0xe0 ? 3 : b >= 0xc2 && b < 0xe0 ? 2 : 0;
    let ch: string | null = null;
    if (len > 0 && i + len <= bytes.length) {
      try {
        ch = fatal.decode(bytes.subarray(i, i + len));
      } catch {
        ch = null;
      }
    }
    if (ch !== null) {
      out += ch;
      i += len;
    } else {
      out += `\\x${b.toString(16).padStart(2, '0')}`;
      i++;
    }
  }
  return out;
}

/** The last path component, as OCSF file.name wants it. */
export const baseName = (path: string): string => {
  const trimmed = path.replace(/\/+$/, '');
  const i = trimmed.lastIndexOf('/');
  return i < 0 ? trimmed : trimmed.slice(i + 1);
};

const ERRNO_NAME = new Map<number, string>(Object.entries(constants.errno).map(([k, v]) => [v, k]));

/** Kernel results are fd/0 or -errno: OCSF status_id (1 success, 2 failure) and status_code (errno name). */
export function statusOf(result: number, inProgressIsSuccess = false): OcsfObject {
  if (result >= 0 || (inProgressIsSuccess && result === -115)) {
    return result === -115 ? { status_id: 1, status: 'Success', status_code: 'EINPROGRESS' } : { status_id: 1, status: 'Success' };
  }
  const name = ERRNO_NAME.get(-result) ?? `errno ${-result}`;
  return { status_id: 2, status: 'Failure', status_code: name, status_detail: `-${name}` };
}

/** ms epoch for OCSF `time` from ns; the exact ns are kept in unmapped.time_ns. */
export const msFromNs = (ns: bigint): number => Number(ns / 1_000_000n);

export function baseRecord(
  classUid: number, categoryUid: number, activityId: number, activityName: string,
  tsNs: bigint, severityId: number, uid: string, sensorId: string, product: ProductInfo,
): OcsfObject {
  return {
    class_uid: classUid,
    category_uid: categoryUid,
    activity_id: activityId,
    activity_name: activityName,
    type_uid: classUid * 100 + activityId,
    time: msFromNs(tsNs),
    severity_id: severityId,
    severity: severityName(severityId),
    metadata: {
      version: OCSF_VERSION,
      uid,
      product: { name: 'agent-sensor', vendor_name: 'agent-sensor', version: product.version },
    },
    device: { uid: sensorId, type_id: 0, type: 'Unknown' },
  };
}
