// The control socket before the gateway has recovered its queue: it answers status at once, and holds every request
// that changes a message until the queue is recovered (before that, a hold's state file would be taken for a broken
// one by recovery, and the message delivered anyway). A config reload is handed to the gateway and its report returned.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startControl, type ControlExtras, type ControlServer } from '../../../core/control/server.ts';
import { controlRequest, requestConfigReload } from '../../../core/control/client.ts';
import { socketPath, type ReloadReport } from '../../../core/control/protocol.ts';
import { DeliveryQueue } from '../../../core/queue/delivery-queue.ts';
import { QueueStore } from '../../../core/queue/queue-store.ts';
import { JsonLogger } from '../../../core/log/logger.ts';
import type { Relay } from '../../../core/relay/types.ts';

// Never called: no message is queued in these tests.
const idleRelay: Relay = { name: 'idle', send: async () => [], close: async () => undefined };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('control socket before the queue is recovered', () => {
  let dir: string;
  let control: ControlServer | undefined;
  beforeEach(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'control-')); });
  afterEach(async () => {
    await control?.close();
    control = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(extras: ControlExtras = {}): Promise<ControlServer> {
    const log = new JsonLogger({ sink: { write() {} } });
    const delivery = new DeliveryQueue(new QueueStore(dir), idleRelay, { retry_schedule: [1000], lifetime: 60_000, concurrency: 1 }, log);
    control = await startControl(dir, delivery, log, extras);
    return control;
  }

  it('hands a reload to the gateway and answers with its report, a refusal included, without waiting for the queue', async () => {
    const reports: ReloadReport[] = [
      { reloaded: true, file: '/etc/mailmoat.yaml', changed: ['domains'], restartOnly: ['data_dir'], plugins: ['spf'] },
      { reloaded: false, file: '/etc/mailmoat.yaml', errors: ['limits.max_message_size: not a size'] },
    ];
    let asked = 0;
    await start({ reload: async () => reports[asked++] });
    const sock = socketPath(dir);
    // The queue is never opened here: a reload touches no message, so it is not held back.
    assert.deepEqual(await requestConfigReload(sock, 5000), reports[0]);
    assert.deepEqual(await requestConfigReload(sock, 5000), reports[1]);
    assert.equal(asked, 2);
  });

  it('answers a reload with the reason when the gateway cannot reload (still starting)', async () => {
    await start({ reload: () => Promise.reject(new Error('the gateway is still starting; run the command again once it has started')) });
    await assert.rejects(requestConfigReload(socketPath(dir), 5000), /still starting/);
    await control!.close();
    control = undefined;
    await start();
    await assert.rejects(requestConfigReload(socketPath(dir), 5000), /does not reload its config through the control socket; send it SIGHUP/);
  });

  it('answers status at once and a hold only once the queue is open', async () => {
    const c = await start();
    const sock = socketPath(dir);
    assert.equal(await controlRequest(sock, { op: 'ping' }), 'pong');
    let answered: unknown;
    const hold = controlRequest(sock, { op: 'hold', id: 'abcdef123456' }).then((r) => { answered = r; });
    await sleep(300);
    assert.equal(answered, undefined, 'held back while the queue is not recovered');
    c.open();
    await hold;
    assert.equal(answered, 'missing');
  });

  it('answers a list only once the queue is open (before, it would miss every scheduled message)', async () => {
    const c = await start();
    let answered: unknown;
    const list = controlRequest(socketPath(dir), { op: 'list' }).then((r) => { answered = r; });
    await sleep(200);
    assert.equal(answered, undefined);
    c.open();
    await list;
    assert.deepEqual(answered, { entries: [], busy: [] });
    await assert.rejects(controlRequest(socketPath(dir), { op: 'list', folder: '../x' as 'queue' }), /unknown folder/);
  });

  it('answers a bulk request per id: a malformed id gets its error, the others their result', async () => {
    const c = await start();
    c.open();
    const sock = socketPath(dir);
    const reply = await controlRequest(sock, { op: 'bulk', action: 'delete', ids: ['abcdef123456', '../etc', 'abcdef123457', 'abcdef123456'] });
    assert.deepEqual(reply, {
      results: { abcdef123456: 'missing', abcdef123457: 'missing' },
      errors: { '../etc': 'not a queue id: "../etc" (6 to 40 characters, 0-9 and a-z)' },
    });
    await assert.rejects(controlRequest(sock, { op: 'bulk', action: 'shred' as 'delete', ids: [] }), /unknown bulk action/);
    await assert.rejects(controlRequest(sock, { op: 'bulk', action: 'hold', ids: 'abcdef123456' as unknown as string[] }), /at most 1000 ids/);
  });

  it('refuses the waiting requests when the gateway stops before it recovered its queue', async () => {
    const c = await start();
    const hold = controlRequest(socketPath(dir), { op: 'hold', id: 'abcdef123456' });
    await sleep(100);
    const closing = c.close();
    control = undefined;
    await assert.rejects(hold, /stopped before its queue was recovered/);
    await closing;
  });
});
