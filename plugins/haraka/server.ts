// Haraka's `server` object: one per process, as in Haraka; plugins share `server.notes` (the redis client lives there).
import { haraka, type Any } from './cjs.ts';
import { addLogMethods, SINK, type LogSink } from './log.ts';

class Server {
  [key: string | symbol]: Any;
  notes: Record<string, Any> = {};
}
addLogMethods(Server.prototype);

let server: Server | undefined;

/** The process-wide server object (also `global.server` and `connection.server.notes`'s owner). */
export function harakaServer(): Server {
  if (!server) {
    server = new Server();
    const { config } = haraka();
    server.config = config;
    server.cfg = config.get('smtp.ini');
    // A gateway process is never a Haraka cluster: init_master is the only init hook, as in single-process Haraka.
    server.cluster = undefined;
    server.get_listen_addrs = () => [];
    server.sendToMaster = () => {};
    (globalThis as Any).server = server;
  }
  return server;
}

/** Log methods of `server` write to the first folder's logger. */
export function attachServerLog(sink: LogSink): void {
  const s = harakaServer();
  if (!Object.hasOwn(s, SINK)) Object.defineProperty(s, SINK, { value: sink });
}
