// The bayes plugin end to end: real SMTP sessions into the gateway, a recording smarthost, a dictionary on disk
// that honeypot mail, `moat bayes merge` and `moat bayes reload` change while the gateway runs.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startGateway, startRelayingGateway, type RelayingGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startSmarthost, type Smarthost } from '../../helpers/smarthost.ts';
import { SmtpDialog, type SmtpReply } from '../../helpers/smtp-dialog.ts';
import { BayesFilter } from '../../../plugins/bayes/engine/filter.ts';
import { loadDictionary, saveDictionary } from '../../../plugins/bayes/engine/persist.ts';
import { run as bayesCli } from '../../../scripts/cli/bayes.ts';
import { message, trainedFilter, writeCorpus } from './fixtures.ts';
import { waitUntil } from '../../helpers/wait-for.ts';

const BEHAVIOUR = path.resolve(import.meta.dirname, '..', '..', 'fixtures', 'plugins', 'test-behaviour.ts');

/** One SMTP transaction from an outside client; returns the reply to the message. */
async function attempt(gw: TestGateway, raw: string, rcpt: string | string[] = 'bob@example.com'): Promise<SmtpReply> {
  const c = await SmtpDialog.connect(gw.port);
  try {
    assert.equal((await c.hello({ xclient: { addr: '203.0.113.9', name: 'client.sender.test' } })).code, 250);
    assert.equal((await c.cmd('MAIL FROM:<someone@sender.test>')).code, 250);
    for (const to of [rcpt].flat()) assert.equal((await c.cmd(`RCPT TO:<${to}>`)).code, 250);
    return await c.data(raw);
  } finally {
    await c.quit();
  }
}

const queueIdOf = (reply: string) => /queued as (\S+)/.exec(reply)![1];

/** What the bayes log said about learning the message with queue id `qid`, one line per decision. */
function learningOf(gw: TestGateway, qid?: string): string[] {
  return gw.logs
    .filter((l) => String(l.msg).startsWith('bayes ') && 'why' in l && (qid === undefined || l.qid === qid))
    .map((l) => [`${l.msg}: ${l.class}, ${l.why}`, l.reason, l.error].filter(Boolean).join(', '));
}

describe('bayes end to end', function () {
  this.timeout(30_000);
  let dir: string;
  let dict: string;
  let smarthost: Smarthost;
  let gw: TestGateway;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-e2e-'));
    dict = path.join(dir, 'dict.tab');
    const filter = trainedFilter();
    await saveDictionary(dict, filter.dict);
    smarthost = await startSmarthost();
    gw = await startGateway({
      config: {
        smarthost: `smtp://127.0.0.1:${smarthost.port}`,
        plugins: [{
          name: 'bayes', dictionary: dict, seed: 'none', min_learned: 10, honeypots: ['trap@example.com'],
          flush_interval: '100ms', reload_check: '100ms',
        }],
      },
    });
  });
  after(async () => {
    await gw?.stop();
    await smarthost?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Sends a message that must be accepted; returns its queue id. */
  async function send(raw: string, rcpt: string | string[] = 'bob@example.com'): Promise<string> {
    const r = await attempt(gw, raw, rcpt);
    assert.equal(r.code, 250, r.text);
    return queueIdOf(r.text);
  }

  const relayed = (marker: string): Promise<string> => smarthost.waitForText(marker);

  it('adds X-Mailmoat-Bayes and BAYES_SPAM_99 to spam, and drops a forged probability header', async () => {
    await send(message({ spam: true, seed: 101, subject: 'e2e-spam casino winner', extraHeaders: 'X-Mailmoat-Bayes: 0.0000' }));
    const raw = await relayed('e2e-spam');
    const probs = raw.split('\r\n').filter((l) => l.startsWith('X-Mailmoat-Bayes:'));
    assert.equal(probs.length, 1, 'only our header is left');
    assert.ok(Number(probs[0].split(':')[1]) >= 0.99, probs[0]);
    assert.match(raw, /^X-Mailmoat-Verdict: .*BAYES_SPAM_99\(7\)/m);
  });

  it('scores ham low with BAYES_HAM_99', async () => {
    await send(message({ spam: false, seed: 102, subject: 'e2e-ham agenda' }));
    const raw = await relayed('e2e-ham');
    assert.ok(Number(/^X-Mailmoat-Bayes: (\S+)/m.exec(raw)?.[1]) < 0.01);
    assert.match(raw, /^X-Mailmoat-Verdict: .*BAYES_HAM_99\(-1\.5\)/m);
  });

  it('scores a message whose From header is 200 KB of one word, and a plain message sent meanwhile', async () => {
    // Before the tokenizer read header values in one pass, 80 KB here blocked the event loop for 20 s. A larger header
    // section than limits.max_header_size (256 KB) is refused before the plugins see it.
    const hostile = send(`From: ${'a'.repeat(200_000)}\r\nTo: bob@example.com\r\nSubject: e2e-huge-from\r\n\r\nhello\r\n`);
    await send(message({ spam: false, seed: 104, subject: 'e2e-beside-huge' }));
    await hostile;
    assert.match(await relayed('e2e-beside-huge'), /^X-Mailmoat-Bayes: /m);
    assert.match(await relayed('e2e-huge-from'), /^X-Mailmoat-Verdict: .*BAYES_/m);
  });

  it('learns honeypot mail as spam into the dictionary file, then holds back by the balance rule, and logs each', async () => {
    const before = await loadDictionary(dict);
    // The trap's copy is dropped (honeypot_delivery: discard); Bob's is relayed as usual.
    const first = await send(message({ spam: true, seed: 103, subject: 'e2e-trap-1 brandnewword' }), ['trap@example.com', 'bob@example.com']);
    assert.match(await relayed('e2e-trap-1'), /BAYES_LESSON\(0\)/);
    const relayedTo = smarthost.messages.find((m) => m.raw.includes('e2e-trap-1'))!.rcptTo;
    assert.deepEqual(relayedTo, ['bob@example.com']);
    assert.ok(gw.logs.some((l) => l.msg === 'recipient discarded' && l.qid === first && String(l.to) === 'trap@example.com' && l.reason === 'honeypot'));
    await waitUntil('the learned message in the file', async () => (await loadDictionary(dict)).nspam === before.nspam + 1);
    const after = await loadDictionary(dict);
    assert.equal(after.spamOf('s:brandnewword'), before.spamOf('s:brandnewword') + 1);
    assert.equal(after.nham, before.nham);
    assert.deepEqual(learningOf(gw, first), ['bayes learned: spam, honeypot trap@example.com']);
    // Now spam (31) leads ham (30): the balance rule stops learning more spam.
    const second = await send(message({ spam: true, seed: 104, subject: 'e2e-trap-2' }), 'trap@example.com');
    const summary = gw.logs.find((l) => l.msg === 'message' && l.qid === second)!;
    assert.equal(summary.delivered_to, 'nobody', 'mail to the trap alone goes nowhere');
    assert.ok((summary.symbols as string[]).includes('BAYES_LESSON(0)'));
    await waitUntil('the decision on the second', () => learningOf(gw, second).length > 0);
    assert.deepEqual(learningOf(gw, second), ['bayes not learned: spam, honeypot trap@example.com, balance rule (31 spam, 30 ham learned)']);
  });

  it('picks up `moat bayes merge` while running, and reloads on `moat bayes reload`', async () => {
    // Teach a new vocabulary as spam through the CLI, into the file the gateway is using.
    const extra = path.join(dir, 'extra');
    fs.mkdirSync(path.join(extra, 'spam'), { recursive: true });
    fs.mkdirSync(path.join(extra, 'ham'), { recursive: true });
    for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(extra, 'spam', `${i}.eml`), `Subject: zanzibar quokka ${i}\r\n\r\nzanzibar quokka marmalade ${i}\r\n`);
    const oldLog = console.log;
    console.log = () => {};
    try {
      assert.equal(await bayesCli(['merge', dict, path.join(extra, 'spam'), path.join(extra, 'ham')]), 0);
    } finally {
      console.log = oldLog;
    }
    await waitUntil('the reload after merge', () => gw.logs.some((l) => l.msg === 'bayes dictionary reloaded'));
    await send('Subject: e2e-merged zanzibar quokka\r\nTo: bob@example.com\r\n\r\nzanzibar quokka marmalade\r\n');
    assert.ok(Number(/^X-Mailmoat-Bayes: (\S+)/m.exec(await relayed('e2e-merged'))?.[1]) > 0.9, 'the merged tokens score');

    const requested = () => gw.logs.filter((l) => l.msg === 'bayes dictionary reloaded' && l.requested === true).length;
    assert.equal(requested(), 0);
    console.log = () => {};
    try {
      assert.equal(await bayesCli(['reload', '--data-dir', gw.dataDir]), 0);
    } finally {
      console.log = oldLog;
    }
    await waitUntil('the requested reload', () => requested() === 1);
  });

  it('learns from a certain verdict (other plugins\' total at or below learn_ham_score) as ham', async () => {
    const dict2 = path.join(dir, 'verdict.tab');
    fs.copyFileSync(dict, dict2);
    const before = await loadDictionary(dict2);
    const gw2 = await startGateway({
      config: {
        smarthost: `smtp://127.0.0.1:${smarthost.port}`,
        plugins: [{ name: 'bayes', dictionary: dict2, seed: 'none', min_learned: 10, learn_from_verdict: true, learn_ham_score: 0, balance: false, flush_interval: '100ms' }],
      },
    });
    try {
      const saved = gw;
      gw = gw2;
      try { await send(message({ spam: false, seed: 105, subject: 'e2e-verdict-ham' })); } finally { gw = saved; }
      await relayed('e2e-verdict-ham');
      await waitUntil('the verdict-learned ham in the file', async () => (await loadDictionary(dict2)).nham === before.nham + 1);
      assert.equal((await loadDictionary(dict2)).nspam, before.nspam);
    } finally {
      await gw2.stop();
    }
  });

  it('refuses a learned folder pair that does not exist', async () => {
    const { spamDir } = writeCorpus(path.join(dir, 'small'), 2);
    const oldErr = console.error;
    console.error = () => {};
    try {
      assert.equal(await bayesCli(['merge', dict, spamDir, path.join(dir, 'missing')]), 1);
    } finally {
      console.error = oldErr;
    }
  });
});

describe('bayes learns a message once, after its verdict', function () {
  this.timeout(30_000);
  let dir: string;

  before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-settled-')); });
  after(() => { fs.rmSync(dir, { recursive: true, force: true }); });

  /**
   * A gateway whose verdict the test-behaviour plugin sets (`X-Test-Score`), with bayes first and not scoring
   * (min_learned out of reach), so the score is exactly the header's: 10 defers, 20 quarantines, 30 refuses.
   */
  async function start(name: string, bayes: Record<string, unknown>, seeded = true): Promise<{ gw: TestGateway; dict: string }> {
    const dict = path.join(dir, `${name}.tab`);
    if (seeded) await saveDictionary(dict, trainedFilter().dict);
    const gw = await startGateway({
      config: {
        scores: { tempfail: 10, quarantine: 20, reject: 30 },
        plugins: [
          { name: 'bayes', dictionary: dict, seed: 'none', min_learned: 1_000_000, balance: false, flush_interval: '100ms', ...bayes },
          { name: 'test-behaviour', module: BEHAVIOUR },
        ],
      },
    });
    return { gw, dict };
  }

  const scored = (score: number, subject: string) => message({ spam: true, seed: 301, subject, extraHeaders: `X-Test-Score: ${score}` });

  it('learns a honeypot message deferred by its score, by a later plugin and by a failed queue commit once: when it is accepted', async () => {
    // Relayed, so that the message reaches the queue commit this test makes fail.
    const { gw, dict } = await start('deferred', { honeypots: ['trap@example.com'], honeypot_delivery: 'relay' });
    const before = await loadDictionary(dict);
    try {
      const byScore = await attempt(gw, scored(12, 'deferred by score'), 'trap@example.com');
      assert.equal(byScore.code, 451);
      assert.match(byScore.text, /^4\.7\.1 /);
      const byPlugin = await attempt(gw, scored(0, 'please-throw after bayes'), 'trap@example.com');
      assert.equal(byPlugin.code, 451);
      const queue = gw.gateway.runtime.queue as unknown as Record<string, unknown>;
      const refuse = async () => { throw Object.assign(new Error('injected commit failure'), { code: 'EIO' }); };
      queue.commit = refuse;
      queue.commitJournaled = refuse;
      let byCommit: SmtpReply;
      try { byCommit = await attempt(gw, scored(0, 'commit fails'), 'trap@example.com'); } finally {
        delete queue.commit;
        delete queue.commitJournaled;
      }
      assert.equal(byCommit.code, 451);
      const accepted = await attempt(gw, scored(0, 'accepted at last'), 'trap@example.com');
      assert.equal(accepted.code, 250, accepted.text);
      // One line for each attempt the observers hear of: the deferral by score and the later plugin's 451 (a failed
      // commit is no verdict, and runs no observer), then the accepted one.
      assert.deepEqual(learningOf(gw), [
        'bayes not learned: spam, honeypot trap@example.com, deferred (4xx): learned when a retry is accepted',
        'bayes not learned: spam, honeypot trap@example.com, deferred (4xx): learned when a retry is accepted',
        'bayes learned: spam, honeypot trap@example.com',
      ]);
    } finally {
      await gw.stop(); // waits for learning under way, and flushes it to the file
    }
    const after = await loadDictionary(dict);
    assert.deepEqual([after.nspam, after.nham], [before.nspam + 1, before.nham], 'four attempts, one message learned');
  });

  it('learns a honeypot message refused with 550: the sender has its permanent answer and does not come back', async () => {
    const { gw, dict } = await start('refused', { honeypots: ['trap@example.com'] });
    const before = await loadDictionary(dict);
    try {
      const r = await attempt(gw, scored(40, 'refused honeypot'), 'trap@example.com');
      assert.equal(r.code, 550);
    } finally {
      await gw.stop();
    }
    assert.equal((await loadDictionary(dict)).nspam, before.nspam + 1);
  });

  it('never learns from a deferred verdict (learn_from_verdict), only from the settled one', async () => {
    const { gw, dict } = await start('verdict-deferred', { learn_from_verdict: true, learn_spam_score: 10 });
    const before = await loadDictionary(dict);
    try {
      for (let i = 0; i < 3; i++) assert.equal((await attempt(gw, scored(12, `verdict deferred ${i}`))).code, 451);
      assert.equal((await attempt(gw, scored(25, 'verdict quarantined'))).code, 250);
    } finally {
      await gw.stop();
    }
    const after = await loadDictionary(dict);
    assert.deepEqual([after.nspam, after.nham], [before.nspam + 1, before.nham]);
  });

  it('applies the balance rule to verdict learning: ten certain spam verdicts on an empty dictionary teach one, and each is logged', async () => {
    const { gw, dict } = await start('verdict-balance', { learn_from_verdict: true, learn_spam_score: 15, balance: true }, false);
    try {
      for (let i = 0; i < 10; i++) assert.equal((await attempt(gw, scored(40, `verdict spam ${i}`))).code, 550);
    } finally {
      await gw.stop();
    }
    const after = await loadDictionary(dict);
    assert.deepEqual([after.nspam, after.nham], [1, 0]);
    const decisions = gw.logs.filter((l) => l.msg === 'bayes learned' || l.msg === 'bayes not learned');
    assert.equal(new Set(decisions.map((l) => l.qid)).size, 10, 'one line per message, under its queue id');
    assert.deepEqual(learningOf(gw), [
      'bayes learned: spam, verdict score 40',
      ...Array<string>(9).fill('bayes not learned: spam, verdict score 40, balance rule (1 spam, 0 ham learned)'),
    ]);
  });
});

describe('bayes end to end, scoring only', function () {
  this.timeout(30_000);
  let dir: string;
  let gw: RelayingGateway;
  let filter: BayesFilter;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-score-'));
    const dict = path.join(dir, 'dict.tab');
    filter = trainedFilter();
    // With a byte model too, which the gateway must add the same way.
    const samples = filter.byteSamples();
    for (let i = 0; i < 30; i++) for (const spam of [true, false]) samples.add(message({ spam, seed: i }), spam);
    filter.dict.byteGrams = samples.fit();
    await saveDictionary(dict, filter.dict);
    // No honeypots, no ham addresses, no learning from verdicts: the plugin scores by token hashes.
    gw = await startRelayingGateway({ config: { plugins: [{ name: 'bayes', dictionary: dict, seed: 'none', min_learned: 10 }] } });
  });
  after(async () => {
    await gw?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('gives the probability the token-string path gives, for a message between spam and ham', async () => {
    // Half spam, half ham: a probability away from 0 and 1, so the comparison means something.
    const raw = `${message({ spam: true, seed: 201, subject: 'score-only mixed' })}\r\n${message({ spam: false, seed: 202 })}`;
    const c = await SmtpDialog.connect(gw.port);
    try {
      await c.hello();
      await c.cmd('MAIL FROM:<someone@sender.test>');
      await c.cmd('RCPT TO:<bob@example.com>');
      assert.equal((await c.data(raw)).code, 250);
    } finally { await c.quit(); }
    const relayed = await gw.sink.waitForText('score-only mixed');
    const got = Number(/^X-Mailmoat-Bayes: (\S+)/m.exec(relayed)![1]);
    const expected = filter.score(raw, filter.dict, true).probability; // explain: the string path
    assert.ok(expected > 0.01 && expected < 0.99, `a probability between the classes: ${expected}`);
    assert.equal(got.toFixed(4), expected.toFixed(4));
    const withoutBytes = new BayesFilter(filter.dict, {}, { byteGramWeight: 0 }).score(raw).probability;
    assert.notEqual(withoutBytes.toFixed(4), expected.toFixed(4), 'the byte model moved the probability');
  });
});
