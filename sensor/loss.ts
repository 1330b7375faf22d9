// Every way an agent's event can be lost, from the sensor's counters, by
// cause: what `sensor watch` prints at stop and what `sensor run` reports to
// the collector for `sensor status`. A cause is listed only when it happened.
import type { SensorCounters } from './sensor.js';

/** cause -> events (or, where said, processes or syscalls) not seen */
export function lossCauses(c: SensorCounters): Record<string, number> {
  const out: Record<string, number> = {};
  const add = (cause: string, n: number | undefined): void => {
    if (n) out[cause] = (out[cause] ?? 0) + n;
  };
  // ring buffer full in the kernel, or a batch the queue to JS could not take
  for (const [type, n] of Object.entries(c.lostByType)) add(`ring:${type}`, n);
  if (Object.keys(c.lostByType).length === 0) add('ring', c.lost);
  add('syscall-pairing-map-full', c.other.pendingFull);
  add('decode-malformed', (c.other.decodeMalformed ?? 0) + (c.other.nativeMalformed ?? 0) + (c.other.decodeErrors ?? 0));
  // processes (not events) the kernel could not track: nothing of them after the flagged exec/fork
  for (const [agent, n] of Object.entries(c.untrackedByAgent)) add(`untracked-processes:${agent}`, n);
  // calls made through the 32-bit syscall table by tracked processes: not decoded
  add('compat-syscalls', c.other.compatSyscalls);
  add('candidate-expired-undecided', c.sensor.expired);
  add('iterator-overflow', c.sensor.iteratorDropped);
  return out;
}

export function lossText(c: SensorCounters): string {
  const causes = Object.entries(lossCauses(c));
  return `loss: ${causes.length ? causes.map(([k, n]) => `${k} ${n}`).join(', ') : 'none'}`;
}
