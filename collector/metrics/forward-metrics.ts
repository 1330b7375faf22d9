// The forwarders' figures as Prometheus metrics, labelled by destination.
import type { Registry } from 'prom-client';
import type { ForwarderStatus } from '../forward/forwarder.js';
import { counterFrom, gaugeFrom, type Reading } from './metrics-registry.js';

export function registerForwarderMetrics(registry: Registry, statuses: () => ForwarderStatus[]): void {
  const each = (pick: (s: ForwarderStatus) => number) => (): Reading[] => statuses().map((s) => [{ dest: s.dest }, pick(s)]);
  counterFrom(registry, 'forward_events_total', 'Events delivered to the destination (committed cursor)', ['dest'], each((s) => s.shippedEvents));
  counterFrom(registry, 'forward_alerts_total', 'Alerts delivered to the destination', ['dest'], each((s) => s.shippedAlerts));
  counterFrom(registry, 'forward_records_sent_total', 'OCSF records sent, resends included', ['dest'], each((s) => s.sentRecords));
  counterFrom(registry, 'forward_send_failures_total', 'Sends that failed and were retried', ['dest'], each((s) => s.sendFailures));
  counterFrom(registry, 'forward_missed_events_total', 'Events retention deleted before they were forwarded', ['dest'], each((s) => s.missedEvents));
  gaugeFrom(registry, 'forward_lag_events', 'Stored events not yet forwarded', ['dest'], each((s) => s.lagEvents));
  gaugeFrom(registry, 'forward_lag_seconds', 'Age of the oldest stored event not yet forwarded', ['dest'], each((s) => s.lagSeconds));
  gaugeFrom(registry, 'forward_lag_alerts', 'Stored alerts not yet forwarded', ['dest'], each((s) => s.lagAlerts));
  gaugeFrom(registry, 'forward_up', '1 when the last send succeeded, 0 when it is retrying', ['dest'], each((s) => (s.lastError === null ? 1 : 0)));
}
