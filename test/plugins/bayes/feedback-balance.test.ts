// A recipient's release from the quarantine is explicit feedback, as sa-learn's or Rspamd's learning from a user's
// report: learned whatever the balance rule says. On a dictionary holding more ham than spam (nearly every real one)
// the rule held back every release. Auto-training (a ham address) stays under the rule.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { loadDictionary } from '../../../plugins/bayes/engine/persist.ts';
import { until } from '../../core/queue/send.ts';
import type { LogFields } from '../../../core/log/types.ts';
import { useQuarantinePages } from './gateway-beds.ts';
import { message, writeCorpus } from './fixtures.ts';

const MOAT = path.resolve(import.meta.dirname, '..', '..', '..', 'scripts', 'moat.js');

describe('bayes: a recipient\'s release on a dictionary holding more ham than spam', function () {
  this.timeout(60_000);
  const bed = useQuarantinePages();
  let dir: string;
  before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-feedback-balance-')); });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const lessons = (qid: string): LogFields[] => bed.gateway.logs.filter((l) => l.plugin === 'bayes' && l.qid === qid && /^bayes (not )?learned$/.test(String(l.msg)));

  it('is learned as ham, while a ham address\'s message is still held back by the balance rule', async () => {
    const corpus = writeCorpus(path.join(dir, 'corpus'), 20);
    for (let i = 0; i < 15; i++) fs.writeFileSync(path.join(corpus.hamDir, `more${i}.eml`), message({ spam: false, seed: 200 + i }));
    const dict = path.join(dir, 'shared.tab');
    const made = spawnSync(process.execPath, [MOAT, 'bayes', 'create', dict, corpus.spamDir, corpus.hamDir, '--no-reinforce'], { encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);
    const start = await loadDictionary(dict);
    assert.ok(start.nham > start.nspam, `more ham than spam: ${start.nspam} spam, ${start.nham} ham`);

    await bed.start({
      plugins: [
        { name: 'bayes', dictionary: dict, seed: 'none', learn_from_recipients: 'all', ham_addresses: ['archive@example.com'] },
        { name: 'rules', rules: [{ name: 'hold', when: { subject: '^hold-me' }, actions: [{ quarantine: 'held for review' }] }] },
      ],
    });
    const held = await bed.send('bob@example.com', { from: '"Shop" <offers@shop.example>', subject: 'hold-me catalogue', text: 'Our spring catalogue: garden chairs, lanterns and seeds.' });
    const archived = await bed.send('archive@example.com', { from: 'alice@partner.test', subject: 'minutes', text: 'The minutes of the budget meeting.' });
    await until(() => lessons(archived).length > 0, 10_000, 'the ham address\'s lesson');
    assert.deepEqual(lessons(archived).map((l) => [l.msg, l.class, l.reason]),
      [['bayes not learned', 'ham', `balance rule (${start.nspam} spam, ${start.nham} ham learned)`]], 'auto-training keeps the rule');

    const r = await bed.releaseLink(held, 'bob@example.com');
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(lessons(held).map((l) => [l.msg, l.class, l.why, l.to]), [['bayes learned', 'ham', 'released by the recipient', 'bob@example.com']]);
    await bed.stop();
    const after = await loadDictionary(dict);
    assert.deepEqual([after.nspam, after.nham], [start.nspam, start.nham + 1]);
  });
});
