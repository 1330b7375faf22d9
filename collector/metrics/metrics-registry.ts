// One Prometheus registry per process. Modules register metrics that read
// their figures at scrape time from the status objects they already keep
// (counterFrom/gaugeFrom), so nothing on a hot path touches prom-client.
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';

export const METRIC_PREFIX = 'agent_sensor_';

export type Labels = Record<string, string>;
export type Reading = [labels: Labels, value: number];

export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });
  return registry;
}

/**
 * A counter whose value another module keeps: at each scrape it advances by
 * what the source's total grew since the last scrape (a source that restarts
 * from zero starts the series over).
 */
export function counterFrom(registry: Registry, name: string, help: string, labelNames: string[], read: () => Reading[]): void {
  const last = new Map<string, number>();
  new Counter({
    name: `${METRIC_PREFIX}${name}`, help, labelNames, registers: [registry],
    collect() {
      for (const [labels, value] of read()) {
        const key = JSON.stringify(labels);
        const before = last.get(key) ?? 0;
        if (value < before) this.reset();
        const delta = value < before ? value : value - before;
        if (delta > 0) this.inc(labels, delta);
        else this.inc(labels, 0);
        last.set(key, value);
      }
    },
  });
}

/** A gauge read from its source at each scrape. */
export function gaugeFrom(registry: Registry, name: string, help: string, labelNames: string[], read: () => Reading[]): void {
  new Gauge({
    name: `${METRIC_PREFIX}${name}`, help, labelNames, registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of read()) this.set(labels, value);
    },
  });
}
