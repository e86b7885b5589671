// A relay told that the gateway stops: sends waiting for a pooled connection, and later ones, come back not attempted
// at once, without a session; a session under way goes on until the cut-off, which ends it (mid-reply or still in
// its greeting) and reports it not attempted, never as a failure of the next hop.
import assert from 'node:assert/strict';
import net from 'node:net';
import { Readable } from 'node:stream';
import { SmtpRelay } from '../../../core/relay/smtp-relay.ts';
import { RouteRelay } from '../../../core/relay/route-relay.ts';
import { RouteTable } from '../../../core/relay/routes.ts';
import { routeTarget } from '../../../core/relay/make-relay.ts';
import type { SmarthostTarget } from '../../../core/relay/smarthost.ts';
import type { QueueEntry } from '../../../core/queue/entry.ts';
import type { RecipientResult } from '../../../core/relay/types.ts';
import { startHungSmarthost, type HungSmarthost } from '../lifecycle/hung-smarthost.ts';

const MSG = 'Subject: stop\r\n\r\nhello\r\n';
const body = () => Readable.from([Buffer.from(MSG)]);

function entry(id: string): QueueEntry {
  return {
    id, mailFrom: 'a@client.example', recipients: [{ address: 'u@example.com', status: 'pending' }], prepend: '', remove: [],
    receivedAt: Date.now(), size: MSG.length, client: { ip: '192.0.2.1' }, authenticated: false, attempts: 0, nextAttemptAt: 0, history: [],
  };
}

function target(port: number, connections: number): SmarthostTarget {
  return { host: '127.0.0.1', port, secure: false, starttls: 'off', tlsVerify: false, connections, timeout: 60_000, display: `smtp://127.0.0.1:${port}` };
}

/** Resolves with the send's results, or 'pending' if it has not finished within `ms`. */
async function within(p: Promise<RecipientResult[]>, ms: number): Promise<RecipientResult[] | 'pending'> {
  return Promise.race([p, new Promise<'pending'>((r) => setTimeout(() => r('pending'), ms))]);
}

describe('relay stop and cut-off', function () {
  this.timeout(30_000);
  let hung: HungSmarthost;
  beforeEach(async () => { hung = await startHungSmarthost(); });
  afterEach(() => hung.stop());

  it('gives up sends waiting for a connection at once, and ends the one sending at the cut-off', async () => {
    const relay = new SmtpRelay(target(hung.port, 1), 'gw.test');
    try {
      const sending = relay.send(entry('a'), ['u@example.com'], body);
      await hung.waitHung(1);
      const waiting = relay.send(entry('b'), ['u@example.com'], body);
      assert.equal(await within(waiting, 200), 'pending', 'the second send waits for the only connection');

      relay.stopStarting();
      const [b] = await waiting;
      assert.equal(b.notAttempted, true);
      assert.equal(b.ok, false);
      assert.equal(b.hostFailure, undefined);
      assert.match(b.reply, /not started: the gateway is stopping/);
      assert.equal(await within(sending, 300), 'pending', 'the session under way is left to finish');
      const [later] = await relay.send(entry('c'), ['u@example.com'], body);
      assert.equal(later.notAttempted, true);

      relay.cutOff();
      const [a] = await sending;
      assert.equal(a.notAttempted, true);
      assert.equal(a.permanent, false);
      assert.match(a.reply, /cut off before the final reply: the gateway is stopping/);
      assert.equal(hung.sessions, 1, 'no other session was opened');
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(hung.open, 0, 'the hung session is closed');
    } finally { await relay.close(); }
  });

  it('cuts off a session still waiting for the greeting', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((s) => { sockets.add(s); s.on('error', () => undefined); });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as net.AddressInfo).port;
    const relay = new SmtpRelay(target(port, 1), 'gw.test');
    try {
      const sending = relay.send(entry('d'), ['u@example.com'], body);
      relay.stopStarting();
      assert.equal(await within(sending, 300), 'pending');
      relay.cutOff();
      const [d] = await sending;
      assert.equal(d.notAttempted, true, d.reply);
    } finally {
      await relay.close();
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });

  it('starts nothing on a route whose relay is made after the stop began', async () => {
    const table = new RouteTable({ 'routed.example': `smtp://127.0.0.1:${hung.port}` });
    const fallback = new SmtpRelay(target(hung.port, 1), 'gw.test');
    const relay = new RouteRelay({ table, fallback, maxOutbound: 0, create: (route) => new SmtpRelay(routeTarget(route as never, 1), 'gw.test') });
    try {
      relay.stopStarting();
      const results = await relay.send(entry('e'), ['u@example.com', 'v@routed.example'], body);
      assert.deepEqual(results.map((r) => r.notAttempted), [true, true]);
      assert.equal(hung.sessions, 0);
    } finally { await relay.close(); }
  });
});
