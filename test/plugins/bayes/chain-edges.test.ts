// The bayes plugin in the gateway's chain at its edges, through real SMTP and a recording smarthost: whose mail a
// lesson is (case, +tags, quoting, several recipients), the balance rule at 0/0 and at equal totals, verdict
// thresholds, the band and header at a band's edge, forged headers, a dictionary that is damaged or unreadable at
// start or replaced under load, and two gateways learning into one Redis at once.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { startGateway, startRelayingGateway, type RelayingGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startRedis, type RedisHandle } from '../../helpers/redis.ts';
import { SmtpDialog, type SmtpReply } from '../../helpers/smtp-dialog.ts';
import { RedisStore } from '../../../core/store/redis-store.ts';
import { loadDictionary, saveDictionary } from '../../../plugins/bayes/engine/persist.ts';
import { SharedCounts } from '../../../plugins/bayes/shared-counts.ts';
import { requestReload } from '../../../plugins/bayes/reload-request.ts';
import { message, trainedFilter } from './fixtures.ts';
import { waitUntil } from '../../helpers/wait-for.ts';

const BEHAVIOUR = path.resolve(import.meta.dirname, '..', '..', 'fixtures', 'plugins', 'test-behaviour.ts');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One SMTP transaction from an outside client (or from `addr`); returns the reply to the message. */
async function attempt(port: number, raw: string, rcpts: string[], addr = '203.0.113.9'): Promise<SmtpReply> {
  const c = await SmtpDialog.connect(port);
  try {
    assert.equal((await c.hello({ xclient: { addr } })).code, 250);
    assert.equal((await c.cmd('MAIL FROM:<someone@sender.test>')).code, 250);
    for (const to of rcpts) assert.equal((await c.cmd(`RCPT TO:<${to}>`)).code, 250, to);
    return await c.data(raw);
  } finally {
    await c.quit();
  }
}

async function accepted(port: number, raw: string, rcpts: string[], addr?: string): Promise<string> {
  const r = await attempt(port, raw, rcpts, addr);
  assert.equal(r.code, 250, r.text);
  return /queued as (\S+)/.exec(r.text)![1];
}

/** The bayes log's learning decisions for a message (or all), as `msg: class, why[, reason]`. */
function learningOf(gw: TestGateway, qid?: string): string[] {
  return gw.logs
    .filter((l) => (l.msg === 'bayes learned' || l.msg === 'bayes not learned') && (qid === undefined || l.qid === qid))
    .map((l) => [`${l.msg}: ${l.class}, ${l.why}`, l.reason].filter(Boolean).join(', '));
}

/** Waits for the one learning decision on message `qid`. */
async function decisionOn(gw: TestGateway, qid: string): Promise<string> {
  await waitUntil(`the decision on ${qid}`, () => learningOf(gw, qid).length > 0);
  return learningOf(gw, qid)[0];
}

const headerOf = (raw: string, name: string): string[] =>
  raw.split('\r\n\r\n')[0].split(/\r\n(?![ \t])/).filter((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));

describe('bayes in the chain: whose mail a lesson is', function () {
  this.timeout(30_000);
  let dir: string;
  let dict: string;
  let gw: RelayingGateway;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-chain-rcpt-'));
    dict = path.join(dir, 'dict.tab');
    await saveDictionary(dict, trainedFilter().dict);
    gw = await startRelayingGateway({
      config: {
        plugins: [{
          name: 'bayes', dictionary: dict, seed: 'none', min_learned: 10, balance: false, flush_interval: '100ms',
          honeypots: ['trap@example.com'], ham_addresses: ['keep@example.com'],
        }],
      },
    });
  });
  after(async () => {
    await gw?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const relayedTo = async (marker: string): Promise<string[]> => {
    await gw.sink.waitForText(marker);
    return gw.sink.messages.find((m) => m.raw.toString('latin1').includes(marker))!.rcptTo;
  };

  it('takes a honeypot given in other case, with a +tag or quoted as the trap: dropped for it, learned as spam, the others get it', async () => {
    const tagged = await accepted(gw.port, message({ spam: true, seed: 401, subject: 'rcpt-tagged' }), ['bob@example.com', 'Trap+promo@EXAMPLE.com']);
    assert.deepEqual(await relayedTo('rcpt-tagged'), ['bob@example.com']);
    assert.ok(gw.logs.some((l) => l.msg === 'recipient discarded' && l.qid === tagged && String(l.to) === 'Trap+promo@EXAMPLE.com' && l.reason === 'honeypot'));
    assert.equal(await decisionOn(gw, tagged), 'bayes learned: spam, honeypot Trap+promo@EXAMPLE.com');

    const quoted = await accepted(gw.port, message({ spam: true, seed: 402, subject: 'rcpt-quoted' }), ['"trap"@example.com']);
    assert.equal(gw.logs.find((l) => l.msg === 'message' && l.qid === quoted)?.delivered_to, 'nobody');
    assert.equal(await decisionOn(gw, quoted), 'bayes learned: spam, honeypot "trap"@example.com');

    // A tag on another mailbox, or a name that only starts like the trap's, is not the trap.
    const near = await accepted(gw.port, message({ spam: true, seed: 403, subject: 'rcpt-near' }), ['trapper@example.com', 'bob+trap@example.com']);
    assert.deepEqual(await relayedTo('rcpt-near'), ['trapper@example.com', 'bob+trap@example.com']);
    await sleep(200);
    assert.deepEqual(learningOf(gw, near), []);
  });

  it('learns a message to a honeypot and a ham address as spam, and one to a tagged ham address as ham', async () => {
    const before = await loadDictionary(dict);
    const both = await accepted(gw.port, message({ spam: true, seed: 404, subject: 'rcpt-both' }), ['keep@example.com', 'trap@example.com']);
    assert.deepEqual(await relayedTo('rcpt-both'), ['keep@example.com']);
    assert.equal(await decisionOn(gw, both), 'bayes learned: spam, honeypot trap@example.com');
    const ham = await accepted(gw.port, message({ spam: false, seed: 405, subject: 'rcpt-ham' }), ['Keep+List@example.com']);
    assert.equal(await decisionOn(gw, ham), 'bayes learned: ham, ham address Keep+List@example.com');
    await waitUntil('both lessons in the file', async () => {
      const d = await loadDictionary(dict);
      return d.nspam === before.nspam + 1 && d.nham === before.nham + 1;
    });
  });

  it('scores and learns from the head of a 3 MB message, and relays the whole of it', async () => {
    const line = 'casino winner lottery bonus prize '.repeat(3);
    const raw = `${message({ spam: true, seed: 406, subject: 'rcpt-big' })}${`${line}\r\n`.repeat(30_000)}`;
    const qid = await accepted(gw.port, raw, ['trap+big@example.com', 'bob@example.com']);
    const relayed = await gw.sink.waitForText('rcpt-big');
    assert.ok(relayed.endsWith(raw.slice(raw.indexOf('\r\n\r\n'))), 'the body leaves as it came');
    assert.match(headerOf(relayed, 'X-Mailmoat-Bayes')[0], /^X-Mailmoat-Bayes: 1\.0000$/);
    assert.equal(await decisionOn(gw, qid), 'bayes learned: spam, honeypot trap+big@example.com');
  });
});

describe('bayes in the chain: the balance rule at its edges', function () {
  this.timeout(30_000);
  let dir: string;
  let gw: TestGateway;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-chain-balance-'));
    gw = await startGateway({
      config: {
        plugins: [{
          name: 'bayes', dictionary: path.join(dir, 'empty.tab'), seed: 'none', flush_interval: '100ms',
          honeypots: ['trap@example.com'], ham_addresses: ['keep@example.com'],
        }],
      },
    });
  });
  after(async () => {
    await gw?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('learns either class at 0/0 and at equal totals, and holds back the class that leads', async () => {
    const steps: Array<[string, string]> = [
      ['trap@example.com', 'bayes learned: spam, honeypot trap@example.com'],
      ['trap@example.com', 'bayes not learned: spam, honeypot trap@example.com, balance rule (1 spam, 0 ham learned)'],
      ['keep@example.com', 'bayes learned: ham, ham address keep@example.com'],
      ['keep@example.com', 'bayes learned: ham, ham address keep@example.com'],
      ['keep@example.com', 'bayes not learned: ham, ham address keep@example.com, balance rule (1 spam, 2 ham learned)'],
      ['trap@example.com', 'bayes learned: spam, honeypot trap@example.com'],
    ];
    for (const [i, [rcpt, expected]] of steps.entries()) {
      const qid = await accepted(gw.port, message({ spam: rcpt.startsWith('trap'), seed: 500 + i }), [rcpt]);
      assert.equal(await decisionOn(gw, qid), expected, `step ${i}`);
    }
    await waitUntil('the totals in the file', async () => {
      try {
        const d = await loadDictionary(path.join(dir, 'empty.tab'));
        return d.nspam === 2 && d.nham === 2;
      } catch { return false; }
    });
  });
});

describe('bayes in the chain: learning from certain verdicts at the thresholds', function () {
  this.timeout(30_000);
  let dir: string;
  let gw: TestGateway;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-chain-verdict-'));
    const dict = path.join(dir, 'dict.tab');
    await saveDictionary(dict, trainedFilter().dict);
    gw = await startGateway({
      config: {
        scores: { reject: 100 },
        plugins: [
          // One band with a score of one decimal: the verdict's total less this would carry a float's tail.
          { name: 'bayes', dictionary: dict, seed: 'none', min_learned: 10, balance: false, learn_from_verdict: true, learn_spam_score: 15, learn_ham_score: -2, bands: [{ min: 0, symbol: 'BAYES_SEEN', score: -0.3 }] },
          { name: 'test-behaviour', module: BEHAVIOUR },
        ],
      },
    });
  });
  after(async () => {
    await gw?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const scored = (score: number, seed: number) => message({ spam: score > 0, seed, extraHeaders: `X-Test-Score: ${score}` });

  it('learns at exactly learn_ham_score and learn_spam_score, judged on the other plugins\' findings, and not just inside them', async () => {
    const atHam = await accepted(gw.port, scored(-2, 601), ['bob@example.com']);
    assert.equal(await decisionOn(gw, atHam), 'bayes learned: ham, verdict score -2');
    const atSpam = await accepted(gw.port, scored(15, 602), ['bob@example.com']);
    assert.equal(await decisionOn(gw, atSpam), 'bayes learned: spam, verdict score 15');
    const inside = [await accepted(gw.port, scored(-1.99, 603), ['bob@example.com']), await accepted(gw.port, scored(14.99, 604), ['bob@example.com'])];
    await sleep(300);
    for (const qid of inside) assert.deepEqual(learningOf(gw, qid), []);
    assert.ok(gw.logs.filter((l) => l.msg === 'message').every((l) => (l.symbols as string[]).includes('BAYES_SEEN(-0.3)')), 'bayes scored each');
  });
});

describe('bayes in the chain: the band and header of a probability at a band\'s edge', function () {
  this.timeout(30_000);
  let dir: string;
  let gw: RelayingGateway;
  let raw: string;
  let shown: string;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-chain-band-'));
    const dict = path.join(dir, 'dict.tab');
    const filter = trainedFilter();
    await saveDictionary(dict, filter.dict);
    // A message whose probability is shown rounded up (0.52996… as 0.5300), and a band starting at what is shown.
    for (let seed = 200; !shown; seed++) {
      const candidate = `${message({ spam: true, seed, subject: `band-edge ${seed}`, extraHeaders: 'x-mailmoat-bayes: 0.0000\r\nX-MAILMOAT-BAYES:\r\n 0.0001' })}\r\n${message({ spam: false, seed: seed + 1 })}`;
      const p = filter.score(candidate, filter.dict, true).probability;
      if (Number(p.toFixed(4)) > p && p > 0.1 && p < 0.9) { raw = candidate; shown = p.toFixed(4); }
    }
    gw = await startRelayingGateway({
      config: {
        relay: { networks: ['198.51.100.0/24'] },
        plugins: [{
          name: 'bayes', dictionary: dict, seed: 'none', min_learned: 10,
          // Unsorted: the band with the highest min not above the probability is chosen wherever it stands.
          bands: [{ min: 0, symbol: 'BAYES_BELOW_EDGE', score: -1 }, { min: 0.99, symbol: 'BAYES_TOP', score: 4 }, { min: Number(shown), symbol: 'BAYES_AT_EDGE', score: 2 }],
        }],
      },
    });
  });
  after(async () => {
    await gw?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('puts the message in the band its shown probability falls in, and relays only our header, a number with 4 decimals', async () => {
    await accepted(gw.port, raw, ['bob@example.com']);
    const relayed = await gw.sink.waitForText('band-edge');
    assert.deepEqual(headerOf(relayed, 'X-Mailmoat-Bayes'), [`X-Mailmoat-Bayes: ${shown}`]);
    assert.match(shown, /^0\.\d{4}$/);
    assert.match(headerOf(relayed, 'X-Mailmoat-Verdict')[0], /symbols=BAYES_AT_EDGE\(2\)$/);
    const summary = gw.logs.find((l) => l.msg === 'message')!;
    assert.ok((summary.details as string[]).some((d) => d.startsWith(`BAYES_AT_EDGE: p=${shown} `)), JSON.stringify(summary.details));
  });

  it('relays no X-Mailmoat-Bayes at all for mail it does not score (a relay network), forged ones included', async () => {
    await accepted(gw.port, raw.replace('band-edge', 'band-trusted'), ['someone@elsewhere.test'], '198.51.100.7');
    const relayed = await gw.sink.waitForText('band-trusted');
    assert.deepEqual(headerOf(relayed, 'X-Mailmoat-Bayes'), []);
    assert.doesNotMatch(headerOf(relayed, 'X-Mailmoat-Verdict')[0], /BAYES_/);
  });
});

describe('bayes in the chain: a dictionary file that is damaged or unreadable', function () {
  this.timeout(30_000);
  let dir: string;
  let whole: Buffer;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-chain-file-'));
    const good = path.join(dir, 'good.tab');
    await saveDictionary(good, trainedFilter().dict);
    whole = fs.readFileSync(good);
  });
  after(() => { fs.rmSync(dir, { recursive: true, force: true }); });

  const bayes = (dictionary: string, more: Record<string, unknown> = {}) => ({
    plugins: [{ name: 'bayes', dictionary, seed: 'none', min_learned: 10, honeypots: ['trap@example.com'], flush_interval: '100ms', ...more }],
  });

  it('scores with a file cut short at start, says so naming it, and never writes over it: what it learns is kept in memory', async () => {
    const cut = path.join(dir, 'cut.tab');
    fs.writeFileSync(cut, whole.subarray(0, (whole.length >> 1) + 3));
    const damaged = fs.readFileSync(cut);
    const gw = await startRelayingGateway({ config: bayes(cut) });
    try {
      const warning = gw.logs.find((l) => l.msg === 'bayes dictionary file refused');
      assert.ok(warning && warning.dictionary === cut && /malformed line/.test(String(warning.reason)), JSON.stringify(warning));
      const qid = await accepted(gw.port, message({ spam: true, seed: 701, subject: 'cut-spam' }), ['trap@example.com', 'bob@example.com']);
      assert.match(await gw.sink.waitForText('cut-spam'), /^X-Mailmoat-Bayes: \d\.\d{4}\r$/m);
      assert.match(await decisionOn(gw, qid), /^bayes learned: spam/);
      await sleep(400); // several flush intervals
      assert.ok(fs.readFileSync(cut).equals(damaged), 'the damaged file is left as it was');
    } finally {
      await gw.stop();
    }
    assert.ok(gw.logs.some((l) => l.msg === 'plugin close failed' && /1 learned message could not be saved/.test(String(l.error))), 'the loss is logged at stop');
  });

  it('disables the plugin, naming the file, when it cannot be read at start; mail still flows; required: true stops the start', async () => {
    const empty = path.join(dir, 'empty.tab');
    fs.writeFileSync(empty, '');
    const gw = await startRelayingGateway({ config: bayes(empty) });
    try {
      const disabled = gw.logs.find((l) => l.msg === 'plugin disabled' && l.plugin === 'bayes');
      assert.match(String(disabled?.reason), new RegExp(`^bayes dictionary ${empty} cannot be read: not a TAB dictionary: the file is empty; restore it`));
      await accepted(gw.port, message({ spam: true, seed: 702, subject: 'unread-dict' }), ['bob@example.com']);
      assert.deepEqual(headerOf(await gw.sink.waitForText('unread-dict'), 'X-Mailmoat-Bayes'), []);
    } finally {
      await gw.stop();
    }
    await assert.rejects(startGateway({ config: { plugins: [{ ...bayes(empty).plugins[0], required: true }] } }),
      new RegExp(`plugin bayes cannot start: bayes dictionary ${empty} cannot be read`));
    await assert.rejects(startGateway({ config: { plugins: [{ ...bayes(path.join(dir, 'new.tab')).plugins[0], seed: path.join(dir, 'no-such-seed.tab'), required: true }] } }),
      /bayes seed dictionary .*no-such-seed\.tab \(the seed option\) cannot be read/);
  });

  it('goes on scoring every message while the file is replaced by rename and reloaded on request, again and again', async () => {
    const live = path.join(dir, 'live.tab');
    fs.writeFileSync(live, whole);
    const gw = await startRelayingGateway({ config: { limits: { max_connections_per_ip: 100 }, ...bayes(live, { reload_check: '20ms' }) } });
    try {
      const sending = Array.from({ length: 24 }, (_, i) => accepted(gw.port, message({ spam: i % 2 === 0, seed: 800 + i, subject: `swap-${i}-` }), ['bob@example.com']));
      for (let i = 0; i < 6; i++) {
        const tmp = path.join(dir, `.live.${i}.tmp`);
        fs.writeFileSync(tmp, whole);
        fs.renameSync(tmp, live);
        await requestReload(gw.dataDir);
        await sleep(40);
      }
      await Promise.all(sending);
      await gw.sink.waitFor(24);
      for (let i = 0; i < 24; i++) {
        const p = Number(/^X-Mailmoat-Bayes: (\S+)\r$/m.exec(await gw.sink.waitForText(`swap-${i}-`))?.[1]);
        assert.ok(i % 2 === 0 ? p > 0.9 : p < 0.1, `message ${i}: ${p}`);
      }
      assert.ok(gw.logs.some((l) => l.msg === 'bayes dictionary reloaded' && l.requested === true));
      assert.equal(gw.logs.filter((l) => l.level === 'error' || l.msg === 'bayes dictionary file refused').length, 0);
    } finally {
      await gw.stop();
    }
  });
});

describe('bayes in the chain: two gateways learning into one Redis at once', function () {
  this.timeout(30_000);
  let redis: RedisHandle;
  let dir: string;
  const gws: TestGateway[] = [];

  before(async () => {
    redis = await startRedis();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-chain-redis-'));
    for (const name of ['a', 'b']) {
      gws.push(await startGateway({
        config: {
          state: { backend: 'redis', redis: { url: redis.url, prefix: 'chain:' } },
          limits: { max_connections_per_ip: 100 },
          plugins: [{ name: 'bayes', dictionary: path.join(dir, `${name}.tab`), seed: 'none', balance: false, honeypots: ['trap@example.com'] }],
        },
      }));
    }
  });
  after(async () => {
    for (const g of gws) await g.stop();
    await redis?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('loses no increment: 20 honeypot messages to each gateway, all under way together, count 40', async () => {
    // Redis holds every command for a moment, so that both gateways' lessons are in flight at the same time.
    const pauser = new Redis(redis.url);
    try { await pauser.call('CLIENT', 'PAUSE', '300', 'ALL'); } finally { pauser.disconnect(); }
    const raw = 'Subject: chain-shared\r\nFrom: x@novel.test\r\n\r\nxylophone zeppelin quasar\r\n';
    await Promise.all(Array.from({ length: 40 }, (_, i) => accepted(gws[i % 2].port, raw, ['trap@example.com'])));
    const both = gws.splice(0);
    for (const g of both) await g.stop(); // waits for the lessons under way
    const store = await RedisStore.connect(redis.url, { prefix: 'chain:' });
    try {
      const d = await new SharedCounts(store, 'default').read();
      assert.deepEqual([d.nspam, d.nham, d.spamOf('xylophone'), d.spamOf('quasar')], [40, 0, 40, 40]);
    } finally {
      await store.close();
    }
    assert.deepEqual(both.map((g) => learningOf(g)), [20, 20].map((n) => Array<string>(n).fill('bayes learned: spam, honeypot trap@example.com')));
  });
});
