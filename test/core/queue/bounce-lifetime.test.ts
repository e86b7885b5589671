// queue.bounce_lifetime (Postfix's bounce_queue_lifetime): mail from <> that a real smarthost keeps answering 4xx is
// given up once it is older than the bounce lifetime, as expired mail is (dead-letter, its log line, the expired
// count), and nobody is sent a notice about it; mail from a sender, as old, is still retried. Unset, mail from <> keeps
// queue.lifetime, as before the key existed. The ages are set in the queued messages' envelopes.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { holdUntilExit } from '../../helpers/leftovers.ts';
import { startSmarthost, type Smarthost } from '../../helpers/smarthost.ts';
import { waitUntil } from '../../helpers/wait-for.ts';
import { freePort } from '../../helpers/ports.ts';
import { sendMail } from './send.ts';
import { scrapeMetrics } from '../metrics-scrape.ts';
import { queueAged } from './aged-entries.ts';
import { lifetimeOf, lifetimeOver } from '../../../core/queue/lifetime.ts';

const HOUR = 3_600_000;

describe('queue.bounce_lifetime', function () {
  this.timeout(60_000);
  let dataDir: string;
  let end = () => {};
  let sink: Smarthost;
  let gw: TestGateway | undefined;

  beforeEach(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-bounce-lifetime-'));
    end = holdUntilExit({ dir: dataDir });
    sink = await startSmarthost();
    // The next hop takes no message for now: every attempt ends in 451 after the data.
    sink.dataReply = 451;
  });
  afterEach(async () => {
    await gw?.stop();
    gw = undefined;
    await sink.stop();
    end();
  });

  const start = (queue: Record<string, unknown>) => startGateway({
    dataDir, config: { smarthost: `smtp://127.0.0.1:${sink.port}`, http: { listen: ['127.0.0.1:0'] }, queue: { retry_schedule: ['300ms'], lifetime: '1d', ...queue } },
  }).then((g) => { gw = g; return g; });

  /** The `deferred` lines of one message, by attempt. */
  const deferrals = (g: TestGateway, id: string) => g.logs.filter((l) => l.msg === 'deferred' && l.qid === id).map((l) => Number(l.attempt));
  const inFolder = (folder: string, id: string) => existsSync(path.join(dataDir, folder, `${id}.json`));

  it('gives up mail from <> older than the bounce lifetime: dead-letter, a log line, the expired count, no notice', async () => {
    const [relayedBounce, ourNotice, ordinary, youngBounce] = await queueAged(dataDir, [
      // A bounce another server sent through us, and a failure notice of our own, each tried before, two hours old.
      { from: '', to: ['ann@late.example'], ageMs: 2 * HOUR, attempts: 1 },
      { from: '', to: ['bob@late.example'], ageMs: 2 * HOUR, attempts: 1, dsn: 'failure' },
      // As old, from a sender: queue.lifetime (a day) is its limit.
      { from: 'carol@client.example', to: ['dave@late.example'], ageMs: 2 * HOUR, attempts: 1 },
      // From <>, but younger than the bounce lifetime.
      { from: '', to: ['erin@late.example'], ageMs: 60_000, attempts: 1 },
    ]);
    const g = await start({ bounce_lifetime: '1h' });

    const given = (id: string) => g.logs.find((l) => l.msg === 'bounce lifetime expired: moved to dead-letter' && l.qid === id);
    await waitUntil('both old messages from <> given up', () => !!given(relayedBounce.id) && !!given(ourNotice.id), 15_000);
    // Retried after the others were given up: a second deferral each, on their schedule.
    await waitUntil('the ordinary message and the young bounce retried', () => [ordinary, youngBounce].every((e) => deferrals(g, e.id).length >= 2), 15_000);

    // Where they went: dead-letter, each recipient failed with the reply that kept it, tried once more before.
    for (const e of [relayedBounce, ourNotice]) {
      assert.ok(inFolder('deadletter', e.id), `${e.id} in dead-letter`);
      assert.ok(!inFolder('queue', e.id), `${e.id} no longer queued`);
      const state = JSON.parse(readFileSync(path.join(dataDir, 'deadletter', `${e.id}.json`), 'utf8'));
      assert.equal(state.recipients[0].status, 'failed');
      assert.match(state.recipients[0].reply, /^451 /);
      assert.equal(state.attempts, 2);
      const line = given(e.id)!;
      assert.equal(line.level, 'warn');
      assert.deepEqual(line.to, [e.recipients[0].address]);
      assert.match(String(line.failed), /451/);
      // Given up on its first attempt past the bounce lifetime: never deferred.
      assert.deepEqual(deferrals(g, e.id), []);
    }
    assert.equal(given(relayedBounce.id)!.dsn, undefined);
    assert.equal(given(ourNotice.id)!.dsn, 'failure');

    // The others wait in the queue and are retried.
    for (const e of [ordinary, youngBounce]) {
      assert.ok(inFolder('queue', e.id), `${e.id} still queued`);
      assert.ok(!inFolder('deadletter', e.id), `${e.id} not dead-lettered`);
      assert.deepEqual(deferrals(g, e.id).slice(0, 2), [2, 3]);
    }
    assert.ok(!g.logs.some((l) => /expired/.test(String(l.msg)) && (l.qid === ordinary.id || l.qid === youngBounce.id)));

    // No notice about them to anyone: the sender is <>, and no copy_to is set.
    assert.deepEqual(g.logs.filter((l) => /notice (queued|withheld)|copy queued/.test(String(l.msg))).map((l) => l.msg), []);
    const { samples } = await scrapeMetrics(g);
    assert.equal(samples.get('mailmoat_deadlettered_total{reason="expired"}'), 2);
    assert.equal(samples.get('mailmoat_deadlettered_total{reason="rejected"}'), 0);
    assert.equal(samples.get('mailmoat_bounced_total'), 0);
    assert.equal(sink.messages.length, 0);
  });

  it('a bounce waiting behind a destination that is down is given up when its bounce lifetime ends, not at its next turn', async () => {
    // Nothing listens there: the destination is held as down after the first attempt, the next one an hour away.
    const dead = await freePort();
    const g = gw = await startGateway({
      dataDir, config: { smarthost: `smtp://127.0.0.1:${dead}`, queue: { retry_schedule: ['1h'], lifetime: '1d', bounce_lifetime: '3s' } },
    });
    // Taken over SMTP from a real client, as a bounce from another server comes.
    const bounce = await sendMail(g.port, { from: '', to: ['ann@example.com'] });
    const ordinary = await sendMail(g.port, { from: 'carol@client.example', to: ['dave@example.com'] });
    assert.deepEqual([bounce.code, ordinary.code], [250, 250]);
    await waitUntil('both tried once', () => [bounce, ordinary].every((m) => deferrals(g, m.queueId!).length === 1));
    await waitUntil('the bounce given up', () => g.logs.some((l) => l.msg === 'bounce lifetime expired: moved to dead-letter' && l.qid === bounce.queueId), 15_000);
    assert.deepEqual(deferrals(g, bounce.queueId!), [1], 'not tried again');
    assert.ok(inFolder('deadletter', bounce.queueId!));
    const failed = JSON.parse(readFileSync(path.join(dataDir, 'deadletter', `${bounce.queueId}.json`), 'utf8')).recipients[0];
    assert.match(failed.reply, /ECONNREFUSED/);
    // The ordinary message, as old, waits for its turn.
    assert.ok(inFolder('queue', ordinary.queueId!));
    assert.ok(!g.logs.some((l) => /dead-letter/.test(String(l.msg)) && l.qid === ordinary.queueId));
  });

  it('unset, mail from <> keeps queue.lifetime: as old a bounce is retried', async () => {
    const [bounce] = await queueAged(dataDir, [{ from: '', to: ['ann@late.example'], ageMs: 2 * HOUR, attempts: 1 }]);
    const g = await start({});
    await waitUntil('the bounce deferred twice', () => deferrals(g, bounce.id).length >= 2, 15_000);
    assert.ok(inFolder('queue', bounce.id));
    assert.ok(!g.logs.some((l) => /moved to dead-letter/.test(String(l.msg))));
    assert.equal((await scrapeMetrics(g)).samples.get('mailmoat_deadlettered_total{reason="expired"}'), 0);
  });
});

describe('lifetimeOf', () => {
  const policy = { lifetime: 4 * 24 * HOUR, bounce_lifetime: 24 * HOUR };

  it('gives mail from <> the bounce lifetime, other mail queue.lifetime', () => {
    assert.deepEqual(lifetimeOf({ mailFrom: '' }, policy), { ms: 24 * HOUR, key: 'queue.bounce_lifetime' });
    assert.deepEqual(lifetimeOf({ mailFrom: 'a@client.example' }, policy), { ms: 4 * 24 * HOUR, key: 'queue.lifetime' });
  });

  it('never lets mail from <> live longer than other mail, and without the key gives it queue.lifetime', () => {
    assert.deepEqual(lifetimeOf({ mailFrom: '' }, { lifetime: HOUR, bounce_lifetime: 2 * HOUR }), { ms: HOUR, key: 'queue.lifetime' });
    assert.deepEqual(lifetimeOf({ mailFrom: '' }, { lifetime: HOUR }), { ms: HOUR, key: 'queue.lifetime' });
  });

  it('a bounce lifetime of 0 is over at once', () => {
    const now = Date.now();
    assert.equal(lifetimeOver({ mailFrom: '', receivedAt: now }, { lifetime: HOUR, bounce_lifetime: 0 }, now), true);
    assert.equal(lifetimeOver({ mailFrom: 'a@client.example', receivedAt: now }, { lifetime: HOUR, bounce_lifetime: 0 }, now), false);
  });
});
