// Every detector the engine runs, in the order they judge an event. A new
// detector is one file beside these and one line here.
import type { Detector } from '../detector.js';
import massRead from './mass-read.js';
import newArea from './new-area.js';
import newDestination from './new-destination.js';
import newExecutable from './new-executable.js';
import policyViolation from './policy-violation.js';
import rateSpike from './rate-spike.js';
import timeOfDay from './time-of-day.js';

export const DETECTORS: Detector<unknown, unknown>[] = [
  policyViolation,
  newDestination,
  newExecutable,
  newArea,
  rateSpike,
  massRead,
  timeOfDay,
];
