// The relay's timeouts per step (RFC 5321 §4.5.3.2): the defaults from the schema, a real gateway relaying to a real
// sink that takes its time to answer RCPT (waited for by default, given up on under a short `timeout`, and the log
// naming the step), and a next hop that never greets: the sends waiting for its one connection fail with that
// connection's failure instead of each waiting out a greeting time of its own.
import assert from 'node:assert/strict';
import net from 'node:net';
import { Readable } from 'node:stream';
import { SMTPServer } from 'smtp-server';
import { validateConfig } from '../../../core/config/load.ts';
import { STAGE_TIMEOUTS_MS, stageTimeout } from '../../../core/relay/stage-timeouts.ts';
import { smarthostTarget } from '../../../core/relay/smarthost.ts';
import { SmtpRelay } from '../../../core/relay/smtp-relay.ts';
import type { QueueEntry } from '../../../core/queue/entry.ts';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';
import { startSmarthost } from '../../helpers/smarthost.ts';
import { waitFor } from '../../helpers/wait-for.ts';

/** A real SMTP sink that answers each RCPT TO after `delayMs`, and records the subjects it took. */
async function slowRcptSink(delayMs: number): Promise<{ port: number; taken: string[]; stop(): Promise<void> }> {
  const taken: string[] = [];
  const server = new SMTPServer({
    logger: false, disableReverseLookup: true, authOptional: true, disabledCommands: ['STARTTLS', 'AUTH'],
    onRcptTo(_a, _s, cb) { setTimeout(() => cb(), delayMs); },
    onData(stream, _s, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => { taken.push(/^Subject: (.*)$/m.exec(Buffer.concat(chunks).toString())?.[1] ?? ''); cb(); });
    },
  });
  server.on('error', () => undefined);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server as unknown as { server: { address(): { port: number } } }).server.address().port;
  return { port, taken, stop: () => new Promise<void>((r) => server.close(() => r())) };
}

async function sendOne(gw: TestGateway, subject: string): Promise<void> {
  const d = await SmtpDialog.connect(gw.port);
  assert.equal((await d.hello()).code, 250);
  assert.equal((await d.cmd('MAIL FROM:<sender@client.example>')).code, 250);
  assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
  assert.equal((await d.data(testMessage({ subject }))).code, 250);
  await d.quit();
}

function entry(): QueueEntry {
  return {
    id: 'stage-test', mailFrom: 'a@client.example', recipients: [], prepend: '', remove: [], receivedAt: Date.now(), size: 20,
    client: { ip: '192.0.2.1' }, authenticated: false, attempts: 0, nextAttemptAt: 0, history: [],
  };
}

describe('relay timeouts per step', function () {
  this.timeout(30_000);

  it('defaults to RFC 5321\'s times per step, with a connect time of its own, and no single timeout', async () => {
    const cfg = await validateConfig({ smarthost: { url: 'smtp://127.0.0.1:2525' }, routes: { 'a.example': { via: 'smtp://127.0.0.1:2526' } } });
    const smarthost = cfg.smarthost as { timeout?: number; connect_timeout?: number; data_done_timeout: number };
    assert.equal(smarthost.timeout, undefined);
    assert.equal(smarthost.connect_timeout, undefined, '30 s is applied in code, so an explicit timeout can govern the connect');
    assert.equal(smarthost.data_done_timeout, 600_000);
    const route = cfg.routes['a.example'] as { timeout?: number; connect_timeout?: number };
    assert.equal(route.timeout, undefined);
    assert.equal(route.connect_timeout, undefined);
    const target = smarthostTarget(cfg.smarthost)!;
    const times = Object.fromEntries((['connect', 'greeting', 'helo', 'mail', 'rcpt', 'data', 'body', 'rset'] as const).map((s) => [s, stageTimeout(target, s)]));
    assert.deepEqual(times, { connect: 30_000, greeting: 300_000, helo: 300_000, mail: 300_000, rcpt: 300_000, data: 120_000, body: 180_000, rset: 20_000 });
    assert.equal(STAGE_TIMEOUTS_MS.rcpt, 300_000, 'the table the README quotes');
  });

  it('takes an explicit timeout as one time for every step, the connect\'s too unless connect_timeout is set', () => {
    assert.equal(stageTimeout({ timeout: 60_000 }, 'rcpt'), 60_000);
    assert.equal(stageTimeout({ timeout: 60_000 }, 'body'), 60_000);
    assert.equal(stageTimeout({ timeout: 60_000, connectTimeout: 30_000 }, 'connect'), 30_000);
    assert.equal(stageTimeout({ timeout: 5_000 }, 'connect'), 5_000);
  });

  describe('a next hop that answers RCPT after 1.5 s', () => {
    let sink: Awaited<ReturnType<typeof slowRcptSink>>;
    let gw: TestGateway | undefined;
    beforeEach(async () => { sink = await slowRcptSink(1500); });
    afterEach(async () => { await gw?.stop(); gw = undefined; await sink.stop(); });

    it('is waited for with the default times: the message is delivered on its first attempt', async () => {
      gw = await startGateway({ config: { smarthost: { url: `smtp://127.0.0.1:${sink.port}` } } });
      await sendOne(gw, 'slow-rcpt-default');
      await waitFor('the slow sink to take the message', () => (sink.taken.includes('slow-rcpt-default') ? true : undefined));
      assert.ok(!gw.logs.some((l) => l.msg === 'deferred'), 'no attempt was given up');
    });

    it('is given up on under timeout: 1s, and the deferral names the step it waited at', async () => {
      gw = await startGateway({ config: { smarthost: { url: `smtp://127.0.0.1:${sink.port}`, timeout: '1s' }, queue: { retry_schedule: ['1h'] } } });
      await sendOne(gw, 'slow-rcpt-short');
      const deferred = await waitFor('the deferral', () => gw!.logs.find((l) => l.msg === 'deferred'));
      assert.match(String(deferred.reply), /no answer from 127\.0\.0\.1:\d+ within 1000 ms, waiting for the reply to RCPT TO/);
      assert.deepEqual(sink.taken, []);
    });
  });

  it('fails the sends waiting for a next hop that never greets with its one connection\'s failure', async () => {
    const sockets = new Set<net.Socket>();
    let accepted = 0;
    const hung = net.createServer((s) => { accepted++; sockets.add(s); s.on('error', () => undefined); });
    await new Promise<void>((r) => hung.listen(0, '127.0.0.1', () => r()));
    const port = (hung.address() as net.AddressInfo).port;
    const sink = await startSmarthost();
    const dead = new SmtpRelay({ host: '127.0.0.1', port, secure: false, starttls: 'off', tlsVerify: false, connections: 1, timeout: 1500, display: 'hung' }, 'relay.test');
    const alive = new SmtpRelay({ host: '127.0.0.1', port: sink.port, secure: false, starttls: 'off', tlsVerify: false, connections: 1, display: 'sink' }, 'relay.test');
    const body = () => Readable.from([Buffer.from('Subject: x\r\n\r\nhello\r\n')]);
    try {
      const sends = [1, 2, 3].map((i) => dead.send(entry(), [`u${i}@hung.example`], body));
      // Another next hop is not held up by this one's pool.
      const other = await alive.send(entry(), ['u@example.com'], body);
      assert.ok(other[0].ok, other[0].reply);
      assert.ok(sockets.size <= 1, 'the hung host is still being waited for');
      const results = (await Promise.all(sends)).flat();
      assert.ok(results.every((r) => !r.ok && !r.permanent && r.hostFailure), JSON.stringify(results));
      assert.match(results[0].reply, /within 1500 ms, waiting for the greeting/);
      assert.equal(results.filter((r) => /did not try again/.test(r.reply)).length, 2, 'the two waiting sends did not open connections of their own');
      assert.equal(accepted, 1, 'one connection was opened to the hung host for the three sends');
    } finally {
      await dead.close();
      await alive.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => hung.close(() => r()));
      await sink.stop();
    }
  });
});
