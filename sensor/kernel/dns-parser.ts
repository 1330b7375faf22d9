// DNS payloads of dns records go to the shared parser in sensor/dns/parse.ts.
// A dns_event does not say whether the send was UDP or TCP (TCP messages
// carry a two-byte length prefix), so a payload that does not read as a UDP
// query is tried once more as TCP.
import { parseDnsQuery } from '../dns/parse.js';
import type { DnsParser } from './decode.js';

export const parseDnsPayload: DnsParser = (payload) => {
  const q = parseDnsQuery(payload, 'udp') ?? parseDnsQuery(payload, 'tcp');
  return q ? { qname: q.qname, qtype: q.qtype } : null;
};

