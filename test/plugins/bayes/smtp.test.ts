// The bayes plugin end to end: real SMTP sessions into the gateway, a recording smarthost, a dictionary on disk
// that honeypot mail, `moat bayes merge` and `moat bayes reload` change while the gateway runs.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startGateway, startRelayingGateway, type RelayingGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startSmarthost, type Smarthost } from '../../helpers/smarthost.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { BayesFilter } from '../../../plugins/bayes/engine/filter.ts';
import { loadDictionary, saveDictionary } from '../../../plugins/bayes/engine/persist.ts';
import { run as bayesCli } from '../../../scripts/cli/bayes.ts';
import { message, trainedFilter, writeCorpus } from './fixtures.ts';

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

  async function send(raw: string, rcpt = 'bob@example.com'): Promise<void> {
    const c = await SmtpDialog.connect(gw.port);
    try {
      assert.equal((await c.hello({ xclient: { addr: '203.0.113.9', name: 'client.sender.test' } })).code, 250);
      assert.equal((await c.cmd('MAIL FROM:<someone@sender.test>')).code, 250);
      assert.equal((await c.cmd(`RCPT TO:<${rcpt}>`)).code, 250);
      const r = await c.data(raw);
      assert.equal(r.code, 250, r.text);
    } finally {
      await c.quit();
    }
  }

  const relayed = (marker: string): Promise<string> => smarthost.waitForText(marker);

  async function until(what: string, check: () => Promise<boolean> | boolean): Promise<void> {
    const end = Date.now() + 10_000;
    while (Date.now() < end) {
      if (await check()) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`timed out waiting for ${what}`);
  }

  it('adds X-Mailmoat-Bayes and BAYES_SPAM_99 to spam, and drops a forged probability header', async () => {
    await send(message({ spam: true, seed: 101, subject: 'e2e-spam casino winner', extraHeaders: 'X-Mailmoat-Bayes: 0.0000' }));
    const raw = await relayed('e2e-spam');
    const probs = raw.split('\r\n').filter((l) => l.startsWith('X-Mailmoat-Bayes:'));
    assert.equal(probs.length, 1, 'only our header is left');
    assert.ok(Number(probs[0].split(':')[1]) >= 0.99, probs[0]);
    assert.match(raw, /^X-Mailmoat-Verdict: .*BAYES_SPAM_99\(5\)/m);
  });

  it('scores ham low with BAYES_HAM_99', async () => {
    await send(message({ spam: false, seed: 102, subject: 'e2e-ham agenda' }));
    const raw = await relayed('e2e-ham');
    assert.ok(Number(/^X-Mailmoat-Bayes: (\S+)/m.exec(raw)?.[1]) < 0.01);
    assert.match(raw, /^X-Mailmoat-Verdict: .*BAYES_HAM_99\(-1\.5\)/m);
  });

  it('scores a message whose From header is 500 KB of one word, and a plain message sent meanwhile', async () => {
    // Before the tokenizer read header values in one pass, 80 KB here blocked the event loop for 20 s.
    const hostile = send(`From: ${'a'.repeat(500_000)}\r\nTo: bob@example.com\r\nSubject: e2e-huge-from\r\n\r\nhello\r\n`);
    await send(message({ spam: false, seed: 104, subject: 'e2e-beside-huge' }));
    await hostile;
    assert.match(await relayed('e2e-beside-huge'), /^X-Mailmoat-Bayes: /m);
    assert.match(await relayed('e2e-huge-from'), /^X-Mailmoat-Verdict: .*BAYES_/m);
  });

  it('learns honeypot mail as spam into the dictionary file, then holds back by the balance rule', async () => {
    const before = await loadDictionary(dict);
    await send(message({ spam: true, seed: 103, subject: 'e2e-trap-1 brandnewword' }), 'trap@example.com');
    assert.match(await relayed('e2e-trap-1'), /BAYES_LEARNED\(0\)/);
    await until('the learned message in the file', async () => (await loadDictionary(dict)).nspam === before.nspam + 1);
    const after = await loadDictionary(dict);
    assert.equal(after.spamOf('s:brandnewword'), before.spamOf('s:brandnewword') + 1);
    assert.equal(after.nham, before.nham);
    // Now spam (31) leads ham (30): the balance rule stops learning more spam.
    await send(message({ spam: true, seed: 104, subject: 'e2e-trap-2' }), 'trap@example.com');
    assert.match(await relayed('e2e-trap-2'), /BAYES_LEARN_SKIPPED\(0\)/);
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
    await until('the reload after merge', () => gw.logs.some((l) => l.msg === 'bayes dictionary reloaded'));
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
    await until('the requested reload', () => requested() === 1);
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
      await until('the verdict-learned ham in the file', async () => (await loadDictionary(dict2)).nham === before.nham + 1);
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
