// Secrets outside their stores: the DLP pass found a credential in a file
// the catalogue does not know (a copy under another name, a paste, an
// encoding), or a secret seen before in another file. The same key read in
// ~/.ssh is the catalogue's business (exfiltration, sweep); here it is the
// copy that is the news. PII and generic assignments only tag (they feed
// exfiltration) unless they are a known secret again.
import { z } from 'zod';
import { defineDetector } from '../detector.js';

const CREDENTIAL_CLASSES = new Set(['private-key', 'aws-access-key', 'github-token', 'gitlab-token', 'slack-token', 'stripe-key', 'openai-key', 'anthropic-key', 'google-api-key']);

export default defineDetector({
  meta: {
    id: 'secret_copy_read',
    title: 'Secret read outside its store',
    description: 'Content read by the agent holds a credential outside the sensitive catalogue, or a secret first found in another file (renamed copy, paste, base64/hex).',
    severity: 'high',
    attack: ['T1552.001', 'T1074.001'],
    falsePositives: 'A test fixture holding a real-looking key; a project\'s own deploy key kept in the repository.',
    phase: 'always',
    params: z.object({}).strict(),
  },
  newState: () => null,
  onContent(ev, { agent }) {
    const c = ev.content!;
    if (ev.features.sensitive?.length || !ev.features.file) return;
    const path = ev.features.file.path;
    const copies = c.matches.filter((m) => m.path !== path);
    if (copies.length > 0) {
      const m = copies[0]!;
      return [{
        subject: `${m.class}:${path}`,
        summary: `${agent.name} read ${path}: it holds the ${m.class} first found in ${m.path} (${m.via}, ${m.form})${c.sha256 ? `; sha256 ${c.sha256}` : ''}`,
        evidence: [ev.id],
      }];
    }
    const creds = c.dlpClasses.filter((k) => CREDENTIAL_CLASSES.has(k));
    if (creds.length === 0) return;
    return [{
      severity: 'medium',
      subject: `${creds[0]}:${path}`,
      summary: `${agent.name} read ${path}: it holds ${creds.join(', ')} outside any credential store${c.sha256 ? `; sha256 ${c.sha256}` : ''}`,
      evidence: [ev.id],
    }];
  },
  onEvent() { return undefined; },
});
