// What a forwarder writes to. send() resolves once the destination has the
// records as far as its protocol can tell; settleMs and epoch cover protocols
// without an acknowledgement (syslog over TCP): records count as delivered
// only after the connection stayed up settleMs past their write, and a lost
// connection (epoch moves) sends everything unsettled again.
import type { ForwardRecord } from './ocsf-common.js';

export interface ForwardOutput {
  /** for logs, status and the cursor's key: no credentials in it */
  readonly name: string;
  readonly settleMs: number;
  /** bumps when a connection is lost */
  readonly epoch: number;
  send(records: ForwardRecord[]): Promise<void>;
  close(): Promise<void>;
}
