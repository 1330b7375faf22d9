// Network discovery: an instance connecting to many ports of one address
// (a port scan: `nmap -sT`, `nc -z host 1-1000`, a bash /dev/tcp loop) or
// to one port of many addresses (a sweep) within a short window. Ports in
// the kernel's ephemeral range (32768 and up) do not count toward a port
// scan: a test suite connecting to the servers it starts on random ports
// is not scanning. A sweep leaves out 53, 80 and 443, where a package
// manager may reach many addresses of a CDN.
import { z } from 'zod';
import { defineDetector } from '../detector.js';
import { expire, toNs, windowParam } from './credential-use.js';

const EPHEMERAL_FROM = 32768;
const SWEEP_IGNORED = new Set([53, 80, 443]);

interface Attempt { ts: bigint; id: bigint; addr: string; port: number }

export default defineDetector({
  meta: {
    id: 'network_scan',
    title: 'Network discovery',
    description: 'Connects to ≥ minPorts distinct ports below the ephemeral range of one address, or to one port of ≥ minHosts distinct addresses, within the window.',
    severity: 'high',
    attack: ['T1046', 'T1018'],
    falsePositives: 'A health check the user asked for across many services; a load test against many hosts.',
    phase: 'always',
    params: z.object({
      window: windowParam('30s'),
      minPorts: z.number().int().min(2).default(20),
      minHosts: z.number().int().min(2).default(20),
    }).strict(),
  },
  newState: () => ({ attempts: [] as Attempt[], raised: new Set<string>() }),
  onEvent(ev, { agent, state, params }) {
    const e = ev.event;
    const d = ev.features.dest;
    if (e.type !== 'connect' || !d || (d.family !== 'inet' && d.family !== 'inet6') || e.proto !== 'tcp') return undefined;
    expire(state.attempts, ev.tsNs, toNs(params.window));
    state.attempts.push({ ts: ev.tsNs, id: ev.id, addr: d.addr, port: d.port });
    if (state.attempts.length > 4096) state.attempts.shift();
    const onHost = state.attempts.filter((a) => a.addr === d.addr && a.port < EPHEMERAL_FROM);
    const ports = new Set(onHost.map((a) => a.port));
    if (d.port < EPHEMERAL_FROM && ports.size >= params.minPorts && !state.raised.has(`ports:${d.addr}`)) {
      state.raised.add(`ports:${d.addr}`);
      const sorted = [...ports].sort((a, b) => a - b);
      return [{
        subject: `ports:${d.addr}`,
        summary: `${agent.name} connected to ${ports.size} ports of ${d.addr} within ${params.window} (${sorted.slice(0, 12).join(', ')}${sorted.length > 12 ? ', …' : ''}): a port scan [T1046]`,
        evidence: onHost.slice(-32).map((a) => a.id),
      }];
    }
    if (SWEEP_IGNORED.has(d.port)) return undefined;
    const onPort = state.attempts.filter((a) => a.port === d.port);
    const hosts = new Set(onPort.map((a) => a.addr));
    if (hosts.size >= params.minHosts && !state.raised.has(`hosts:${d.port}`)) {
      state.raised.add(`hosts:${d.port}`);
      return [{
        subject: `hosts:${d.port}`,
        summary: `${agent.name} connected to port ${d.port} of ${hosts.size} addresses within ${params.window} (${[...hosts].slice(0, 8).join(', ')}${hosts.size > 8 ? ', …' : ''}): a sweep [T1018]`,
        evidence: onPort.slice(-32).map((a) => a.id),
      }];
    }
    return undefined;
  },
});
