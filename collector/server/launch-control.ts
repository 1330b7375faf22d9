// The LaunchControl service: `sensor launch` asks the process that embeds this
// collector to watch a cgroup as an agent instance. The collector does not know
// sensors or cgroups; it only carries the call to a handler the embedding
// process gives it (sensor/launch/launch-registry.ts in `sensor run`).
//
// Who may call: the service is added only on a unix socket, which the server
// makes root's and 0600 in a 0700 folder (unix-socket.ts), so only root
// reaches it. A TCP collector (remote sensors with client certificates) never
// serves it, whatever handler it is given.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import {
  launchServiceDefinition, type PbLaunchEndReply, type PbLaunchEndRequest, type PbLaunchReply, type PbLaunchRequest,
} from '../../proto/codec/launch-proto.js';

export interface LaunchRegistration {
  /** the cgroup v2 id the kernel rule matches (decimal) */
  cgroupId: string;
  /** the agent is one of the sensor's configured agents (else: an agent without grants) */
  configured: boolean;
}

/** What the embedding process does; errors with `code` = a grpc status are passed on as that status. */
export interface LaunchControl {
  register(agent: string, cgroupPath: string): Promise<LaunchRegistration>;
  /** the launched command exited; resolves true when the cgroup was removed now */
  end(cgroupPath: string): Promise<boolean>;
}

/** An error a LaunchControl throws to answer with a given status (e.g. INVALID_ARGUMENT). */
export class LaunchControlError extends Error {
  constructor(readonly code: grpc.status, message: string) {
    super(message);
  }
}

function statusFor(err: unknown): Partial<grpc.StatusObject> {
  const message = err instanceof Error ? err.message : String(err);
  return { code: err instanceof LaunchControlError ? err.code : grpc.status.INTERNAL, details: message };
}

export function addLaunchControl(server: grpc.Server, control: LaunchControl, log: Logger): void {
  const clog = log.child({ service: 'LaunchControl' });
  server.addService(launchServiceDefinition(), {
    Register: (call: grpc.ServerUnaryCall<PbLaunchRequest, PbLaunchReply>, cb: grpc.sendUnaryData<PbLaunchReply>) => {
      const agent = call.request.agent ?? '';
      const path = call.request.cgroup_path ?? '';
      control.register(agent, path).then(
        (r) => {
          clog.info({ agent, cgroup: path, cgroupId: r.cgroupId, configured: r.configured }, 'launch registered');
          cb(null, { cgroup_id: r.cgroupId, configured: r.configured });
        },
        (err) => cb(statusFor(err)),
      );
    },
    End: (call: grpc.ServerUnaryCall<PbLaunchEndRequest, PbLaunchEndReply>, cb: grpc.sendUnaryData<PbLaunchEndReply>) => {
      const path = call.request.cgroup_path ?? '';
      control.end(path).then(
        (removed) => {
          clog.info({ cgroup: path, removed }, 'launch ended');
          cb(null, { removed });
        },
        (err) => cb(statusFor(err)),
      );
    },
  });
}
