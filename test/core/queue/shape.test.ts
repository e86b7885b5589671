// `moat queue --shape` (Postfix's qshape): the waiting messages of a real queue, per recipient or sender domain and age
// bucket, read from the files with no gateway running and through a running gateway alike. The ages are set in the
// messages' envelopes, each well inside its bucket, so the seconds a run of moat takes cannot move one across.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { holdUntilExit } from '../../helpers/leftovers.ts';
import { startSmarthost, type Smarthost } from '../../helpers/smarthost.ts';
import { waitUntil } from '../../helpers/wait-for.ts';
import { queueAged } from './aged-entries.ts';
import { moatQueue } from './moat-queue.ts';

const MIN = 60_000;
const BUCKETS = ['0-5m', '5-10m', '10-20m', '20-40m', '40-80m', '80-160m', '160-320m', '320-640m', '640m+'];

/** A row's counts as `--json` gives them, by bucket index: `{ 0: 1, 8: 1 }` is one under 5m and one older than 640m. */
function counts(byBucket: Record<number, number>): number[] {
  return BUCKETS.map((_, i) => byBucket[i] ?? 0);
}

describe('moat queue --shape', function () {
  this.timeout(60_000);
  let dataDir: string;
  let end = () => {};
  let sink: Smarthost | undefined;
  let gw: TestGateway | undefined;
  let ids: string[];

  beforeEach(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-shape-'));
    end = holdUntilExit({ dir: dataDir });
    ids = (await queueAged(dataDir, [
      // Two recipients in one domain: the message counts once there.
      { from: 'ann@client.example', to: ['x@alpha.example', 'y@alpha.example'], ageMs: 2 * MIN },
      { from: 'ann@client.example', to: ['z@alpha.example', 'w@beta.example'], ageMs: 7 * MIN },
      { from: 'ann@client.example', to: ['q@beta.example'], ageMs: 30 * MIN, attempts: 2 },
      { from: 'bob@Other.example', to: ['r@alpha.example'], ageMs: 1000 * MIN, attempts: 9 },
      // A bounce on its way back to a sender.
      { from: '', to: ['s@gamma.example'], ageMs: 100 * MIN, attempts: 3 },
      // Delivered to beta already: it waits for gamma only.
      { from: 'ann@client.example', to: [{ address: 'u@beta.example', status: 'delivered' }, 'v@gamma.example'], ageMs: 15 * MIN, attempts: 1 },
      // Held: not waiting for delivery, so counted apart.
      { from: 'ann@client.example', to: ['t@alpha.example'], ageMs: 3 * MIN, held: true },
    ])).map((e) => e.id);
  });
  afterEach(async () => {
    await gw?.stop();
    gw = undefined;
    await sink?.stop();
    sink = undefined;
    end();
  });

  /** What every run below must print, whoever answers: the files, or the gateway. */
  async function assertShape(): Promise<void> {
    const byRecipient = await moatQueue(dataDir, '--shape', '--json');
    assert.equal(byRecipient.code, 0, byRecipient.stderr);
    assert.deepEqual(byRecipient.json, {
      by: 'recipient', buckets: BUCKETS,
      total: { domain: 'TOTAL', messages: 6, buckets: counts({ 0: 1, 1: 1, 2: 1, 3: 1, 5: 1, 8: 1 }) },
      domains: [
        { domain: 'alpha.example', messages: 3, buckets: counts({ 0: 1, 1: 1, 8: 1 }) },
        // Tied with gamma: by name.
        { domain: 'beta.example', messages: 2, buckets: counts({ 1: 1, 3: 1 }) },
        { domain: 'gamma.example', messages: 2, buckets: counts({ 2: 1, 5: 1 }) },
      ],
      omitted: 0, held: 1,
    });

    const bySender = await moatQueue(dataDir, '--shape', '--by', 'sender', '--json');
    assert.equal(bySender.code, 0, bySender.stderr);
    assert.deepEqual(bySender.json.domains, [
      { domain: 'client.example', messages: 4, buckets: counts({ 0: 1, 1: 1, 2: 1, 3: 1 }) },
      { domain: '<>', messages: 1, buckets: counts({ 5: 1 }) },
      { domain: 'other.example', messages: 1, buckets: counts({ 8: 1 }) },
    ]);
    assert.equal(bySender.json.total.messages, 6);

    const top = await moatQueue(dataDir, '--shape', '--top', '1', '--json');
    assert.deepEqual(top.json.domains.map((d: { domain: string }) => d.domain), ['alpha.example']);
    assert.equal(top.json.omitted, 2);
    assert.equal(top.json.total.messages, 6, 'TOTAL counts every domain, shown or not');

    // The text: qshape's columns (T, then each bucket's upper bound in minutes), TOTAL first, the domains aligned.
    const text = await moatQueue(dataDir, '--shape', '--top', '2');
    assert.equal(text.code, 0, text.stderr);
    assert.deepEqual(text.stdout.trimEnd().split('\n').map((l) => l.trimEnd()), [
      '              T 5 10 20 40 80 160 320 640 640+',
      '        TOTAL 6 1  1  1  1  0   1   0   0    1',
      'alpha.example 3 1  1  0  0  0   0   0   0    1',
      ' beta.example 2 0  1  0  1  0   0   0   0    0',
      '(1 more domain(s) not shown (--top); 1 held message(s) not counted)',
    ]);
  }

  it('counts the waiting messages by domain and age bucket from the files, with no gateway running', async () => {
    await assertShape();
  });

  it('gives the same shape through a running gateway, which holds the queue', async () => {
    sink = await startSmarthost();
    // Every message is refused for now: each is tried at the start and stays, at the age it had.
    sink.dataReply = 451;
    const g = gw = await startGateway({ dataDir, config: { smarthost: `smtp://127.0.0.1:${sink.port}`, queue: { retry_schedule: ['1h'], lifetime: '2d' } } });
    const waiting = ids.slice(0, 6);
    await waitUntil('the six waiting messages tried and deferred', () => waiting.every((id) => g.logs.some((l) => l.msg === 'deferred' && l.qid === id)), 20_000);
    await assertShape();
  });

  it('refuses what it cannot do, with the usage exit code', async () => {
    for (const [args, said] of [
      [['--shape', '--by', 'domain'], /--by takes recipient or sender, not "domain"/],
      [['--shape', '--top', '0'], /--top takes a whole number of domains above 0, not "0"/],
      [['--shape', 'list'], /--shape takes no command \("list"\)/],
      [['--shape', '--to', 'alpha.example'], /--to does not apply to --shape/],
      [['list', '--by', 'sender'], /--by goes with --shape/],
    ] as const) {
      const r = await moatQueue(dataDir, ...args);
      assert.equal(r.code, 64, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, said);
    }
  });
});
