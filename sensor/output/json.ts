// One JSON object per line, with the field names of proto/events/types.ts. The
// fields the Sensor keeps for itself (agentId, pending) are left out.
import type { SensorEvent } from '../../proto/events/types.js';

export function eventJson(ev: SensorEvent): string {
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  const { agentId, pending, ...rest } = ev as SensorEvent & { agentId?: number; pending?: boolean };
  return JSON.stringify(rest);
}
