// DNS payloads of dns records go to the shared parser in proto/net/dns-message.ts.
// A dns_event does not say whether a send was UDP or TCP (TCP messages carry
// a two-byte length prefix), so a payload that does not read as a UDP query
// is tried once more as TCP. Responses are only captured on UDP sockets.
import { addressesForQuestion, parseDnsQuery, parseDnsResponse } from '../../proto/net/dns-message.js';
import type { DnsParser } from './decode.js';

export const parseDnsPayload: DnsParser = (payload, response) => {
  if (response) {
    const r = parseDnsResponse(payload);
    if (!r) return null;
    const resolved = addressesForQuestion(r);
    return {
      qname: r.qname, qtype: r.qtype, rcode: r.rcode,
      answers: resolved.map((a) => a.addr),
      ttl: resolved.length > 0 ? Math.min(...resolved.map((a) => a.ttl)) : undefined,
    };
  }
  const q = parseDnsQuery(payload, 'udp') ?? parseDnsQuery(payload, 'tcp');
  return q ? { qname: q.qname, qtype: q.qtype } : null;
};
