// The CLI's end of the control channel, and the choice between acting through a running gateway or on the files.
import net from 'node:net';
import type { ActionResult, QueueActions } from '../queue/actions.ts';
import { FileQueueActions } from '../queue/file-actions.ts';
import type { QueueStore } from '../queue/queue-store.ts';
import { socketPath, type ControlReply, type ControlRequest, type ControlStatus } from './protocol.ts';

export class NoGatewayError extends Error {}

/** Sends one request; throws NoGatewayError when nothing listens on the socket. */
export function controlRequest(file: string, req: ControlRequest, timeoutMs = 30_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const s = net.connect(file);
    let buf = '';
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`the gateway did not answer ${req.op} within ${timeoutMs} ms`)); }, timeoutMs);
    s.setEncoding('utf8');
    s.once('connect', () => s.write(JSON.stringify(req) + '\n'));
    s.on('data', (d: string) => {
      buf += d;
      const i = buf.indexOf('\n');
      if (i < 0) return;
      clearTimeout(timer);
      s.end();
      const reply = JSON.parse(buf.slice(0, i)) as ControlReply;
      if (reply.ok) resolve(reply.result); else reject(new Error(reply.error));
    });
    s.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? new NoGatewayError('no gateway is running on this data_dir') : e);
    });
  });
}

export class ControlClient implements QueueActions {
  readonly file: string;
  constructor(file: string) { this.file = file; }
  status(): Promise<ControlStatus> { return controlRequest(this.file, { op: 'status' }) as Promise<ControlStatus>; }
  flush(id?: string): Promise<number> { return controlRequest(this.file, { op: 'flush', id }) as Promise<number>; }
  hold(id: string): Promise<ActionResult> { return controlRequest(this.file, { op: 'hold', id }) as Promise<ActionResult>; }
  release(id: string): Promise<ActionResult> { return controlRequest(this.file, { op: 'release', id }) as Promise<ActionResult>; }
  delete(id: string, opts: { to?: string } = {}): Promise<ActionResult> { return controlRequest(this.file, { op: 'delete', id, to: opts.to }) as Promise<ActionResult>; }
}

/** The running gateway's actions when one answers on data_dir/control.sock, else direct edits of the queue files. */
export async function queueActions(store: QueueStore): Promise<{ actions: QueueActions; live: ControlStatus | undefined }> {
  const client = new ControlClient(socketPath(store.dataDir));
  try {
    const live = await client.status();
    return { actions: client, live };
  } catch (e) {
    if (!(e instanceof NoGatewayError)) throw e;
    return { actions: new FileQueueActions(store), live: undefined };
  }
}
