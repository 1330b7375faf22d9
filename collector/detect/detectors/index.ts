// Every detector the engine runs, in the order they judge an event. A new
// detector is one file beside these and one line here.
import type { Detector } from '../detector.js';
import cloudMetadata from './cloud-metadata.js';
import credentialSweep from './credential-sweep.js';
import dataDestruction from './data-destruction.js';
import defenceEvasion from './defence-evasion.js';
import dnsTunnel from './dns-tunnel.js';
import exfiltration from './exfiltration.js';
import highValueRead from './high-value-read.js';
import ingressExec from './ingress-exec.js';
import inputCapture from './input-capture.js';
import networkScan from './network-scan.js';
import persistence from './persistence.js';
import pipeShell from './pipe-shell.js';
import procDiscovery from './proc-discovery.js';
import reverseShell from './reverse-shell.js';
import secretCopyRead from './secret-copy-read.js';
import sensorTamper from './sensor-tamper.js';
import staging from './staging.js';
import massRead from './mass-read.js';
import newArea from './new-area.js';
import newDestination from './new-destination.js';
import newExecutable from './new-executable.js';
import policyViolation from './policy-violation.js';
import privilegeEscalation from './privilege-escalation.js';
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
  // issue 12: sensitive data, DLP and the behaviour rule pack
  exfiltration,
  credentialSweep,
  highValueRead,
  secretCopyRead,
  staging,
  ingressExec,
  pipeShell,
  defenceEvasion,
  dnsTunnel,
  procDiscovery,
  persistence,
  reverseShell,
  sensorTamper,
  networkScan,
  privilegeEscalation,
  dataDestruction,
  cloudMetadata,
  inputCapture,
];
