// A honeypot's message refused by a plugin's outcome (a rule's `reject`), not by the score: the core runs the
// afterVerdict observers for it as for a refusal by score, so bayes learns it as spam and says so in one log line.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { loadDictionary } from '../../../plugins/bayes/engine/persist.ts';
import { until } from '../../core/queue/send.ts';
import type { LogFields } from '../../../core/log/types.ts';
import { fromOutside } from './gateway-beds.ts';
import { message } from './fixtures.ts';

describe('bayes: a honeypot\'s message refused by a rule', function () {
  this.timeout(60_000);
  let dir: string;
  let gw: RelayingGateway | undefined;
  before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-rule-refusal-')); });
  afterEach(async () => { await gw?.stop(); gw = undefined; });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const bayes = (dictionary: string) => ({ name: 'bayes', dictionary, seed: 'none', honeypots: ['trap@example.com'], flush_interval: '100ms' });
  const rules = { name: 'rules', rules: [{ name: 'refuse', when: { subject: '^refuse-me' }, actions: [{ reject: 'not taken here' }] }] };
  /** The summary line of the message with `subject`'s refusal, and the bayes plugin's lesson lines under its queue id. */
  function linesOf(g: RelayingGateway): { summary: LogFields; lessons: LogFields[] } {
    const summary = g.logs.find((l) => l.msg === 'message' && l.verdict === 'reject')!;
    assert.ok(summary, 'the refusal was logged');
    return { summary, lessons: g.logs.filter((l) => l.plugin === 'bayes' && l.qid === summary.qid && /^bayes (not )?learned$/.test(String(l.msg))) };
  }

  it('bayes before the rule: 550 from the rule, the message learned as spam, one `bayes learned` line', async () => {
    const dict = path.join(dir, 'before-rule.tab');
    gw = await startRelayingGateway({ config: { plugins: [bayes(dict), rules] } });
    const reply = await fromOutside(gw.port, message({ spam: true, seed: 3, subject: 'refuse-me now' }), ['trap@example.com', 'bob@example.com']);
    assert.equal(reply.code, 550);
    assert.match(reply.text, /not taken here/);
    await until(() => linesOf(gw!).lessons.length > 0, 10_000, 'the lesson line');
    await new Promise((r) => setTimeout(r, 200));
    const { summary, lessons } = linesOf(gw);
    assert.equal(summary.plugin, 'rules');
    assert.deepEqual(lessons.map((l) => [l.msg, l.class, l.why]), [['bayes learned', 'spam', 'honeypot trap@example.com']]);
    assert.equal(gw.sink.messages.length, 0, 'nothing relayed');
    await gw.stop();
    gw = undefined;
    const learned = await loadDictionary(dict);
    assert.deepEqual([learned.nspam, learned.nham], [1, 0]);
  });

  it('the rule before bayes: the chain ends before bayes reads the message, and the log says the lesson was lost', async () => {
    const dict = path.join(dir, 'after-rule.tab');
    gw = await startRelayingGateway({ config: { plugins: [rules, bayes(dict)] } });
    const reply = await fromOutside(gw.port, message({ spam: true, seed: 4, subject: 'refuse-me again' }), ['trap@example.com']);
    assert.equal(reply.code, 550);
    await until(() => linesOf(gw!).lessons.length > 0, 10_000, 'the lesson line');
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(linesOf(gw).lessons.map((l) => [l.msg, l.class, l.why, l.reason]),
      [['bayes not learned', 'spam', 'honeypot trap@example.com', 'the message was not read: rules: rule refuse']]);
  });
});
