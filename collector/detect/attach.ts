// Runs the detection engine beside a writer store: fed by the store's commit
// hook, closed (judging what is queued, saving baselines) before the store.
import type { Logger } from 'pino';
import type { EventStore } from '../store/event-store.js';
import { DetectionEngine } from './engine.js';
import type { DetectionOptions } from './settings.js';

export function attachDetection(store: EventStore, opts: DetectionOptions, logger: Logger): DetectionEngine {
  const engine = new DetectionEngine(store.database, opts, logger.child({ module: 'collector.detect' }));
  store.onCommitted((batch) => engine.enqueue(batch));
  store.onContent((c) => engine.enqueueContent(c));
  const closeStore = store.close.bind(store);
  store.close = async () => {
    await engine.close();
    await closeStore();
  };
  return engine;
}
