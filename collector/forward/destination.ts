// A forwarding destination given as a URL:
//   syslog+tcp://host:port        RFC 5424, octet-counting framing
//   syslog+tls://host:port        the same over TLS (tls: CA, optional client certificate)
//   clickhouse+http://[user[:password]@]host:port/database
//     (the password may come from AGENT_SENSOR_CLICKHOUSE_PASSWORD instead, so
//     it is not on a command line every local user can read in /proc)
import { ClickHouseOutput } from './clickhouse-output.js';
import type { ForwardOutput } from './output.js';
import { SyslogOutput } from './syslog-output.js';

export interface DestinationTls {
  ca?: string;
  cert?: string;
  key?: string;
}

export const DESTINATION_FORMS = 'syslog+tcp://HOST:PORT, syslog+tls://HOST:PORT or clickhouse+http://HOST:PORT/DATABASE';

export function parseDestination(text: string, tls: DestinationTls = {}): ForwardOutput {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`not a destination URL: ${JSON.stringify(text)} (expected ${DESTINATION_FORMS})`);
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(url.port);
  if (!host || !Number.isInteger(port) || port <= 0) throw new Error(`${text}: a host and a port are required (expected ${DESTINATION_FORMS})`);
  switch (url.protocol) {
    case 'syslog+tcp:':
      if (tls.ca || tls.cert || tls.key) throw new Error(`${text}: --tls-* options need syslog+tls://`);
      return new SyslogOutput({ host, port });
    case 'syslog+tls:':
      if ((tls.cert === undefined) !== (tls.key === undefined)) throw new Error('a client certificate needs both --tls-cert and --tls-key');
      return new SyslogOutput({ host, port, tls: { ...tls } });
    case 'clickhouse+http:': {
      const database = decodeURIComponent(url.pathname.replace(/^\//, '')) || 'agent_sensor';
      return new ClickHouseOutput({
        host, port, database,
        user: url.username ? decodeURIComponent(url.username) : undefined,
        password: url.password ? decodeURIComponent(url.password) : process.env.AGENT_SENSOR_CLICKHOUSE_PASSWORD,
      });
    }
    default:
      throw new Error(`${url.protocol.replace(/:$/, '')}: unknown destination kind (expected ${DESTINATION_FORMS})`);
  }
}
