// Names a sensor and one run of it. sensorId is stable across restarts (the
// machine id, else the host name); bootId is fresh per start, so sequence
// numbers can start at 1 again without colliding with an earlier run's.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

export function defaultSensorId(): string {
  try {
    const id = readFileSync('/etc/machine-id', 'utf8').trim();
    if (/^[0-9a-f]{32}$/.test(id)) return `${hostname()}-${id}`;
  } catch {
    // no machine-id (some containers): the host name alone
  }
  return hostname();
}

export function newBootId(): string {
  return randomUUID();
}
