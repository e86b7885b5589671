// The running gateway's end of the control channel: `moat queue` asks it to flush, hold, release or delete, so the
// relay workers see each change at once and never race with a file edited behind their back.
import net from 'node:net';
import { chmod, unlink } from 'node:fs/promises';
import type { Logger } from '../log/types.ts';
import type { DeliveryQueue } from '../queue/delivery-queue.ts';
import { SOCKET_PATH_MAX, socketPath, type ControlReply, type ControlRequest, type ControlStatus } from './protocol.ts';

export interface ControlServer { path: string; close(): Promise<void> }

const MAX_LINE = 64 * 1024;

/** What else the gateway answers on the control channel. */
export interface ControlExtras { metrics?: () => Record<string, unknown> }

async function handle(req: ControlRequest, delivery: DeliveryQueue, extras: ControlExtras): Promise<unknown> {
  const id = (v: unknown) => {
    if (typeof v !== 'string' || !/^[0-9a-z]{6,40}$/.test(v)) throw new Error('a queue id is required');
    return v;
  };
  switch (req.op) {
    case 'ping': return 'pong';
    case 'metrics': return extras.metrics?.() ?? {};
    case 'status': return { pid: process.pid, busy: delivery.busy, scheduled: delivery.size } satisfies ControlStatus;
    case 'flush': return delivery.flush(req.id === undefined ? undefined : id(req.id));
    case 'hold': return delivery.hold(id(req.id));
    case 'release': return delivery.release(id(req.id));
    case 'delete': return delivery.delete(id(req.id), { to: typeof req.to === 'string' ? req.to : undefined });
    default: throw new Error(`unknown op ${JSON.stringify((req as { op?: unknown }).op)}`);
  }
}

function serve(socket: net.Socket, delivery: DeliveryQueue, log: Logger, extras: ControlExtras): void {
  let buf = '';
  let chain = Promise.resolve();
  socket.setEncoding('utf8');
  socket.on('error', () => socket.destroy());
  socket.on('data', (d: string) => {
    buf += d;
    if (buf.length > MAX_LINE) { socket.destroy(); return; }
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      // Requests on one connection are answered in order.
      chain = chain.then(async () => {
        let reply: ControlReply;
        try {
          const req = JSON.parse(line) as ControlRequest;
          reply = { ok: true, result: await handle(req, delivery, extras) };
          if (req.op !== 'ping' && req.op !== 'status' && req.op !== 'metrics') log.info('control request', { op: req.op, id: (req as { id?: string }).id, result: reply.result });
        } catch (e) {
          reply = { ok: false, error: (e as Error).message };
        }
        if (!socket.destroyed) socket.write(JSON.stringify(reply) + '\n');
      });
    }
  });
}

/** True when something answers on the socket (another gateway on the same data_dir). */
function answers(file: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(file);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/** Listens on data_dir/control.sock; undefined (with a warning) when the socket cannot be made. */
export async function startControl(dataDir: string, delivery: DeliveryQueue, log: Logger, extras: ControlExtras = {}): Promise<ControlServer | undefined> {
  const file = socketPath(dataDir);
  const clog = log.child({ component: 'control' });
  if (Buffer.byteLength(file) > SOCKET_PATH_MAX) {
    clog.warn('data_dir path too long for the control socket; moat queue will edit files directly', { path: file });
    return undefined;
  }
  if (await answers(file)) {
    // Two gateways on one queue would both deliver every message: refuse to start.
    throw new Error(`another gateway is already running on this data_dir (${file} answers)`);
  }
  await unlink(file).catch(() => undefined);
  const server = net.createServer((s) => serve(s, delivery, clog, extras));
  try {
    await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(file, () => resolve()); });
    await chmod(file, 0o600);
  } catch (e) {
    clog.warn('cannot open the control socket; moat queue will edit files directly', { path: file, error: String(e) });
    server.close();
    return undefined;
  }
  server.unref();
  return {
    path: file,
    async close() {
      await new Promise<void>((r) => server.close(() => r()));
      await unlink(file).catch(() => undefined);
    },
  };
}
