// Recipient dictionaries end to end: a gateway with the shared dictionary and one for a sales team, real SMTP
// sessions, a recording smarthost, dictionary files on disk that lessons are flushed into.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { Redis } from 'ioredis';
import { startSmarthost, type Smarthost } from '../../helpers/smarthost.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { BayesFilter } from '../../../plugins/bayes/engine/filter.ts';
import { loadDictionary, saveDictionary } from '../../../plugins/bayes/engine/persist.ts';
import { withRecipientScore } from '../../../plugins/bayes/engine/recipient-score.ts';
import { run as bayesCli } from '../../../scripts/cli/bayes.ts';
import { message, trainedFilter } from './fixtures.ts';
import { fromOutside, useRedisPair } from './gateway-beds.ts';

const SALES_WORDS = ['invoice', 'quote', 'pricing', 'discount', 'order', 'shipment', 'pallet', 'freight'];

/** Mail the sales team gets every day and wants: words the shared dictionary has never seen. */
function salesMail(seed: number, subject = `quote ${seed}`): string {
  const words = Array.from({ length: 14 }, (_x, i) => SALES_WORDS[(seed + i * 3) % SALES_WORDS.length]);
  return [`From: "Buyer" <buyer${seed}@customer.test>`, 'To: sales@sales.example.com', `Subject: ${subject}`,
    `Message-ID: <${seed}.q@customer.test>`, 'Content-Type: text/plain; charset=utf-8', '', words.join(' '), ''].join('\r\n');
}

/** A dictionary that learned `n` sales mails as ham and `n` of the fixtures' spam. */
function salesFilter(n: number): BayesFilter {
  const filter = new BayesFilter();
  for (let i = 0; i < n; i++) { filter.learn(salesMail(i), false); filter.learn(message({ spam: true, seed: 500 + i }), true); }
  return filter;
}

/** One SMTP transaction from an outside client that must be accepted: `raw` to each of `rcpts`. */
async function deliver(port: number, raw: string, rcpts: string[]): Promise<void> {
  const r = await fromOutside(port, raw, rcpts, { from: 'someone@sender.test', name: 'client.sender.test' });
  assert.equal(r.code, 250, r.text);
}

describe('bayes recipient dictionaries: the mean of two logits', () => {
  const score = (probability: number, logHam = 0, logSpam = 0) => ({ probability, used: 10, logHam, logSpam, top: [] });
  const logit = (p: number) => Math.log(p / (1 - p));
  const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

  it('takes the weighted mean of the shared and the recipients\' logits', () => {
    const p = withRecipientScore(score(0.5), score(0.1), 1).probability;
    assert.ok(Math.abs(p - sigmoid(logit(0.1) / 2)) < 1e-12, String(p));
    // Two dictionaries that agree keep their probability: the bands mean what they meant for one.
    assert.ok(Math.abs(withRecipientScore(score(0.9), score(0.9), 1).probability - 0.9) < 1e-12);
    assert.ok(Math.abs(withRecipientScore(score(0.9), score(0.2), 3).probability - sigmoid((logit(0.9) + 3 * logit(0.2)) / 4)) < 1e-12);
    assert.equal(withRecipientScore(score(0.7), score(0.01), 0).probability.toFixed(12), '0.700000000000');
  });

  it('keeps a certain 1 a number, and orders two messages both call certain by both tails', () => {
    const a = withRecipientScore(score(1, -40, 0), score(1, -10, 0), 1);
    const b = withRecipientScore(score(1, -40, 0), score(1, -50, 0), 1);
    assert.ok(Number.isFinite(a.probability) && a.probability > 0.999999);
    assert.ok(b.logHam - b.logSpam < a.logHam - a.logSpam, 'b ranks as more spammy');
  });
});

describe('bayes recipient dictionaries end to end', function () {
  this.timeout(30_000);
  let dir: string;
  let smarthost: Smarthost;
  let gw: TestGateway;
  let shared: string;
  let sales: string;
  let fresh: string;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-rcpt-'));
    shared = path.join(dir, 'shared.tab');
    sales = path.join(dir, 'sales.tab');
    fresh = path.join(dir, 'new', 'support.tab');
    await saveDictionary(shared, trainedFilter().dict);
    await saveDictionary(sales, salesFilter(20).dict);
    fs.mkdirSync(path.dirname(fresh));
    smarthost = await startSmarthost();
    gw = await startGateway({
      config: {
        smarthost: `smtp://127.0.0.1:${smarthost.port}`,
        domains: ['example.com', 'sales.example.com', 'support.example.com'],
        plugins: [{
          name: 'bayes', dictionary: shared, seed: 'none', min_learned: 10, flush_interval: '100ms', reload_check: '100ms',
          ham_addresses: ['archive@sales.example.com', 'archive@support.example.com'],
          recipient_dictionaries: [
            { recipients: ['@sales.example.com'], dictionary: sales },
            { recipients: ['@support.example.com'], dictionary: fresh },
          ],
        }],
      },
    });
  });
  after(async () => {
    await gw?.stop();
    await smarthost?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const send = (raw: string, rcpts: string[]) => deliver(gw.port, raw, rcpts);


  /** The relayed message's probability and the bayes finding's part of its verdict header. */
  async function judged(marker: string): Promise<{ p: number; verdict: string }> {
    const raw = await smarthost.waitForText(marker);
    return { p: Number(/^X-Mailmoat-Bayes: (\S+)/m.exec(raw)![1]), verdict: /^X-Mailmoat-Verdict: (.*)$/m.exec(raw)![1] };
  }

  /** The bayes band findings' details (`p=… tokens=…`) of every message the gateway has logged. */
  const bayesDetails = (): string[] => gw.logs.filter((l) => l.msg === 'message')
    .flatMap((l) => (l.details as string[] | undefined) ?? [])
    .filter((d) => /^BAYES_\w+: p=/.test(d)).map((d) => d.replace(/^BAYES_\w+: /, ''));

  it('scores a sales mail by both dictionaries for the sales team, and by the shared one alone for anyone else', async () => {
    await send(salesMail(101, 'rd-sales-only'), ['sales@sales.example.com']);
    await send(salesMail(101, 'rd-other'), ['bob@example.com']);
    await send(salesMail(101, 'rd-mixed'), ['sales@sales.example.com', 'bob@example.com']);
    const own = await judged('rd-sales-only');
    const other = await judged('rd-other');
    const mixed = await judged('rd-mixed');
    // The shared dictionary has never seen these words: no opinion. The sales dictionary has: ham.
    assert.ok(other.p > 0.1 && other.p < 0.7, String(other.p));
    assert.match(other.verdict, /BAYES_UNSURE/);
    assert.ok(own.p < 0.1, String(own.p));
    assert.match(own.verdict, /BAYES_HAM_(99\(-1\.5\)|90\(-0\.5\))/);
    assert.equal(mixed.p, other.p, 'recipients of two dictionaries (or none) get the shared one alone');
    assert.ok(bayesDetails().some((d) => /^p=\S+ tokens=\d+ shared only \(recipients of different dictionaries\)$/.test(d)), `the mixed message's detail says why: ${bayesDetails().join(' | ')}`);
  });

  it('names both probabilities in the finding\'s detail', async () => {
    await send(salesMail(102, 'rd-detail'), ['ann+quotes@sales.example.com']);
    await judged('rd-detail');
    assert.ok(bayesDetails().some((d) => /^p=0\.0\d\d\d tokens=\d+ shared=0\.[1-6]\d+ sales=0\.00\d\d$/.test(d)), `a finding names shared= and sales=: ${bayesDetails().join(' | ')}`);
  });

  it('scores with the shared dictionary alone while a recipient dictionary is too small, and says so', async () => {
    await send(salesMail(103, 'rd-support'), ['help@support.example.com']);
    const r = await judged('rd-support');
    assert.match(r.verdict, /BAYES_UNSURE/);
    assert.ok(bayesDetails().some((d) => /^p=\S+ tokens=\d+ support=none \(0 spam and 0 ham learned\)$/.test(d)),
      `the detail says the support dictionary has learned too little: ${bayesDetails().join(' | ')}`);
    assert.ok(gw.logs.some((l) => l.msg === 'bayes recipient dictionary starts empty' && l.recipients === 'support' && l.dictionary === fresh));
  });

  it('learns a lesson into the shared dictionary and the recipients\' own, each under its own balance rule, and writes a missing one at the flush', async () => {
    const sharedBefore = await loadDictionary(shared);
    const salesBefore = await loadDictionary(sales);
    await send(salesMail(104, 'rd-lesson-sales'), ['archive@sales.example.com']);
    await send(salesMail(105, 'rd-lesson-support'), ['archive@support.example.com']);
    await judged('rd-lesson-sales');
    await judged('rd-lesson-support');
    const end = Date.now() + 10_000;
    while (Date.now() < end && !(fs.existsSync(fresh) && (await loadDictionary(sales)).nham > salesBefore.nham && (await loadDictionary(shared)).nham > sharedBefore.nham)) {
      await new Promise((r) => setTimeout(r, 50));
    }
    // The shared dictionary held 30 and 30: after the first ham, the balance rule holds the second back there.
    assert.equal((await loadDictionary(shared)).nham, sharedBefore.nham + 1, 'the first lesson in the shared dictionary');
    assert.equal((await loadDictionary(sales)).nham, salesBefore.nham + 1, 'the sales lesson in the sales dictionary');
    const support = await loadDictionary(fresh);
    assert.equal(support.nham, 1, 'the support lesson in the support dictionary, written though it did not exist');
    assert.equal(support.nspam, 0);
    const learned = gw.logs.filter((l) => String(l.msg).startsWith('bayes ') && 'why' in l)
      .map((l) => `${String(l.msg)}: ${String(l.why)}${l.recipients ? ` → ${String(l.recipients)}` : ''}${l.reason ? `, ${String(l.reason)}` : ''}`).sort();
    assert.deepEqual(learned, [
      'bayes learned: ham address archive@sales.example.com',
      'bayes learned: ham address archive@sales.example.com → sales',
      'bayes learned: ham address archive@support.example.com → support',
      'bayes not learned: ham address archive@support.example.com, balance rule (30 spam, 31 ham learned)',
    ]);
  });
});

describe('bayes recipient dictionaries shared through Redis', function () {
  this.timeout(30_000);
  const pair = useRedisPair('bayes-rcpt-redis', 'bayes-rcpt:', async (name, dir) => {
    const shared = path.join(dir, `${name}-shared.tab`);
    const sales = path.join(dir, `${name}-sales.tab`);
    await saveDictionary(shared, trainedFilter().dict);
    await saveDictionary(sales, salesFilter(20).dict);
    return {
      domains: ['example.com', 'sales.example.com'],
      plugins: [{
        name: 'bayes', dictionary: shared, seed: 'none', min_learned: 10, sync_interval: '100ms', balance: false,
        ham_addresses: ['archive@sales.example.com'],
        // Each gateway has its own file: the name, not the file, is what they share counts under.
        recipient_dictionaries: [{ recipients: ['@sales.example.com'], dictionary: sales, name: 'sales' }],
      }],
    };
  });
  const { gws } = pair;

  /** Sends `raw` to `rcpt` through `gw`; returns the bayes finding's detail from that gateway's log. */
  async function detailAt(gw: TestGateway, subject: string, rcpt: string): Promise<string> {
    const raw = `Subject: ${subject}\r\nFrom: x@novel.test\r\n\r\nxylophone zeppelin quasar nebula xylophone\r\n`;
    await deliver(gw.port, raw, [rcpt]);
    const line = gw.logs.find((l) => l.msg === 'message' && (l.to as string[] | undefined)?.includes(rcpt) && !seen.has(l));
    assert.ok(line, `${subject} logged`);
    seen.add(line);
    return ((line.details as string[]).find((d) => d.startsWith('BAYES_')) ?? '').replace(/^BAYES_\w+: /, '');
  }
  const seen = new Set<unknown>();
  const part = (detail: string, name: string) => Number(new RegExp(` ${name}=(\\S+)`).exec(detail)?.[1]);

  it('gateway b scores sales mail with what gateway a learned into the sales dictionary, under its own namespace', async () => {
    const [a, b] = gws;
    const before = await detailAt(b, 'rr-before', 'sales@sales.example.com');
    assert.equal(part(before, 'sales'), 0.5, `the sales dictionary knows none of these words: ${before}`);
    await detailAt(a, 'rr-learn', 'archive@sales.example.com');
    let after = before;
    const end = Date.now() + 10_000;
    for (let i = 0; !(part(after, 'sales') < 0.5) && Date.now() < end; i++) {
      await new Promise((r) => setTimeout(r, 150));
      after = await detailAt(b, `rr-after-${i}`, 'sales@sales.example.com');
    }
    assert.ok(part(after, 'sales') < 0.5 && part(after, 'shared') < 0.5, `b learned from a in both dictionaries: ${after}`);
    const client = new Redis(pair.redis.url);
    try {
      const keys = await client.keys('bayes-rcpt:bayes-log:*seq');
      assert.deepEqual(keys.sort(), ['bayes-rcpt:bayes-log:default.sales:seq', 'bayes-rcpt:bayes-log:default:seq']);
    } finally {
      client.disconnect();
    }
  });
});

describe('bayes recipient dictionaries that cannot be used', function () {
  this.timeout(30_000);
  let dir: string;
  let smarthost: Smarthost;
  let gw: TestGateway;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-rcpt-bad-'));
    const shared = path.join(dir, 'shared.tab');
    await saveDictionary(shared, trainedFilter().dict);
    fs.mkdirSync(path.join(dir, 'sales.tab'));
    smarthost = await startSmarthost();
    gw = await startGateway({
      config: {
        smarthost: `smtp://127.0.0.1:${smarthost.port}`,
        domains: ['example.com', 'sales.example.com', 'support.example.com'],
        plugins: [{
          name: 'bayes', dictionary: shared, seed: 'none', min_learned: 10, reload_check: '100ms',
          recipient_dictionaries: [
            // A folder where the file should be: it cannot be read.
            { recipients: ['@sales.example.com'], dictionary: path.join(dir, 'sales.tab') },
            // Not written yet: nothing learned into it.
            { recipients: ['@support.example.com'], dictionary: path.join(dir, 'support.tab') },
          ],
        }],
      },
    });
  });
  after(async () => {
    await gw?.stop();
    await smarthost?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('leaves out only that dictionary, with an error naming it: everyone, its recipients too, is scored by the shared one', async () => {
    for (const [rcpt, marker] of [['bob@example.com', 'rb-bob'], ['sales@sales.example.com', 'rb-sales']]) {
      await deliver(gw.port, message({ spam: true, seed: 7, subject: marker }), [rcpt]);
      const raw = await smarthost.waitForText(marker);
      assert.ok(Number(/^X-Mailmoat-Bayes: (\S+)/m.exec(raw)?.[1]) >= 0.99, `${rcpt} scored: ${raw.slice(0, 400)}`);
    }
    const left = gw.logs.filter((l) => l.msg === 'bayes recipient dictionary left out: its recipients are scored by the shared dictionary alone');
    assert.deepEqual(left.map((l) => [l.level, l.recipients]), [['error', 'sales']]);
    assert.match(String(left[0].reason), /sales\.tab/);
  });

  it('takes `moat bayes reload` without a warning or a reload of a recipient dictionary that was never written', async () => {
    assert.equal(await bayesCli(['reload', '--data-dir', gw.dataDir]), 0);
    await waitFor('the shared dictionary reloaded on request', () => gw.logs.find((l) => l.msg === 'bayes dictionary reloaded' && l.requested === true));
    // Room for a stray warning or reload of the never-written file to show up: the test is that none does.
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(gw.logs.filter((l) => l.level === 'warn' && String(l.msg).startsWith('bayes')).map((l) => `${String(l.msg)} ${String(l.dictionary)}`), []);
    assert.ok(!gw.logs.some((l) => l.msg === 'bayes dictionary reloaded' && l.recipients === 'support'), 'a file that never existed has nothing to reload');
  });
});
