// Who is on the other end of a call, as the transport proves it, and what
// that identity may do.
//  - Unix socket: only root can connect (unix-socket.ts: 0700 folder, 0600
//    socket), so the peer is root on this host: admin, may write batches for
//    any sensor id (the embedded collector of `sensor run` is such a peer) and
//    read everything. (Node cannot read SO_PEERCRED; the file mode is the check.)
//  - TCP: mutual TLS. The client certificate's subject CN (else its first DNS
//    subjectAltName) is the peer's name. A peer writes batches for the sensor
//    of that name only, and reads (Status, Query) only that sensor's data,
//    unless its name is one of the collector's admin names (--tls-admin),
//    which may read everything.
import type { PeerCertificate } from 'node:tls';

export type PeerIdentity =
  | { role: 'admin'; name: string; remote: boolean }
  | { role: 'sensor'; name: string; remote: true }
  | { role: 'anonymous'; remote: true };

export interface AuthSource {
  getAuthContext?: () => { sslPeerCertificate?: PeerCertificate } | null;
}

export function certificateName(cert: PeerCertificate | undefined): string | null {
  if (!cert || typeof cert !== 'object') return null;
  const cn = cert.subject?.CN;
  if (typeof cn === 'string' && cn.length > 0) return cn;
  const dns = /(?:^|,\s*)DNS:([^,]+)/.exec(cert.subjectaltname ?? '');
  return dns ? dns[1]!.trim() : null;
}

export function identifyPeer(call: AuthSource, tls: boolean, admins: ReadonlySet<string>): PeerIdentity {
  if (!tls) return { role: 'admin', name: 'root (unix socket)', remote: false };
  const name = certificateName(call.getAuthContext?.()?.sslPeerCertificate ?? undefined);
  if (name === null) return { role: 'anonymous', remote: true };
  return admins.has(name) ? { role: 'admin', name, remote: true } : { role: 'sensor', name, remote: true };
}
