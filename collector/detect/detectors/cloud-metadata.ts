// Cloud credentials from the instance metadata service. Every major cloud
// serves the machine's role credentials on a link-local address
// (169.254.169.254: AWS, GCP, Azure, OpenStack, Oracle, DigitalOcean;
// fd00:ec2::254: AWS over IPv6; 169.254.170.2: ECS task credentials;
// 100.100.100.200: Alibaba) and GCP under a name (metadata.google.internal).
// A process that reaches it can act as the machine in the cloud account
// (T1552.005), the first step of most cloud breaches through an SSRF, and
// a prompt-injected agent is one fetch away from it. A connect to such an
// address (answered or not: the attempt is the intent) or a DNS query for
// such a name is high. Excused: the cloud's own CLIs and guest agents
// reading it for the user (aws, gcloud, az, cloud-init, the SSM and guest
// agents); a script using an SDK is not excused, whoever wrote it.
import { z } from 'zod';
import { defineDetector } from '../detector.js';
import { basename } from './credential-use.js';

const METADATA_ADDRS = new Set(['169.254.169.254', '169.254.170.2', '100.100.100.200', 'fd00:ec2::254', '::ffff:169.254.169.254']);
const METADATA_NAMES = /^(?:metadata\.google\.internal|metadata\.goog|metadata|instance-data(?:\.ec2\.internal)?)\.?$/i;
const CLOUD_TOOLS = /^(?:aws|aws_completer|gcloud|gsutil|bq|az|cloud-init|amazon-ssm-agent|ssm-agent-worker|google_guest_agent|google_metadata_script_runner|waagent|WALinuxAgent|oci)$/;

export default defineDetector({
  meta: {
    id: 'cloud_metadata',
    title: 'Cloud instance metadata reached',
    description: 'A connect to the instance metadata service (169.254.169.254, fd00:ec2::254, 169.254.170.2, 100.100.100.200) or a DNS query for metadata.google.internal, by a process other than the cloud\'s own CLIs and guest agents.',
    severity: 'high',
    attack: ['T1552.005', 'T1580'],
    falsePositives: 'A script the user asked for that uses a cloud SDK on a cloud VM (boto3, google-auth): it fetches the role credentials this way.',
    phase: 'always',
    params: z.object({}).strict(),
  },
  newState: () => null,
  onEvent(ev, { agent }) {
    const e = ev.event;
    const d = ev.features.dest;
    const toAddress = e.type === 'connect' && d !== undefined && METADATA_ADDRS.has(d.addr.toLowerCase());
    const byName = e.type === 'dns' && !e.response && METADATA_NAMES.test(e.qname);
    if (!toAddress && !byName) return undefined;
    const proc = ev.features.proc;
    if (proc && CLOUD_TOOLS.test(basename(proc.exe))) return undefined;
    const who = proc ? proc.argv.join(' ').slice(0, 160) : `pid ${e.pid}`;
    if (e.type === 'connect' && d) {
      return [{
        subject: `${d.addr}:${d.port}`,
        summary: `${agent.name} connected to the cloud metadata service ${d.addr}:${d.port}${e.result < 0 ? ' (refused or unreachable here)' : ''}, where the machine's cloud credentials are served, by ${who} [T1552.005]`,
        evidence: [ev.id],
      }];
    }
    if (e.type === 'dns') {
      return [{
        subject: e.qname.toLowerCase().replace(/\.$/, ''),
        summary: `${agent.name} looked up ${e.qname}, the cloud metadata service's name, by ${who} [T1552.005]`,
        evidence: [ev.id],
      }];
    }
    return undefined;
  },
});
