// The control socket is the gateway user's alone from the moment it exists: `moat check --user` asks no password
// because no one else can connect, so it must never have the umask's mode, not even between listen and a chmod.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { listenOwnerOnly, startControl, type ControlServer } from '../../../core/control/server.ts';
import { socketPath } from '../../../core/control/protocol.ts';
import { DeliveryQueue } from '../../../core/queue/delivery-queue.ts';
import { QueueStore } from '../../../core/queue/queue-store.ts';
import { JsonLogger } from '../../../core/log/logger.ts';
import type { Relay } from '../../../core/relay/types.ts';

const idleRelay: Relay = { name: 'idle', send: async () => [], close: async () => undefined };
const modeOf = (file: string) => statSync(file).mode & 0o777;

describe('control socket mode', () => {
  let dir: string;
  let umask: number;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'control-mode-'));
    // A umask that would leave the socket open to everyone: 0777 less nothing.
    umask = process.umask(0o000);
  });
  afterEach(() => {
    process.umask(umask);
    rmSync(dir, { recursive: true, force: true });
  });

  it('binds the socket with mode 0600, and gives the process its umask back', async () => {
    const server = net.createServer();
    const file = path.join(dir, 'probe.sock');
    try {
      await listenOwnerOnly(server, file);
      assert.equal(modeOf(file).toString(8), '600', 'the mode it was created with: nothing changed it since');
      assert.equal(process.umask(0o000), 0o000, 'the umask is the process\'s own again');
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it("the gateway's control socket is 0600 as soon as startControl returns", async () => {
    const log = new JsonLogger({ sink: { write() {} } });
    const delivery = new DeliveryQueue(new QueueStore(dir), idleRelay, { retry_schedule: [1000], lifetime: 60_000, concurrency: 1 }, log);
    let control: ControlServer | undefined;
    try {
      control = await startControl(dir, delivery, log);
      assert.equal(modeOf(socketPath(dir)).toString(8), '600');
    } finally {
      await control?.close();
    }
  });
});
