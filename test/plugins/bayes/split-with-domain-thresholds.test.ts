// bayes split_recipients and scores.domains both answer 452 4.5.3 at RCPT, each by its own key (dictionary, threshold
// set), and neither defers a transaction's first recipient. A client that sends the deferred recipients again, as an
// MTA does, gets every recipient through in transactions that each hold one dictionary and one threshold set.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';
import { saveDictionary } from '../../../plugins/bayes/engine/persist.ts';
import { trainedFilter } from './fixtures.ts';

describe('bayes split_recipients beside scores.domains', function () {
  this.timeout(60_000);
  let dir: string;
  let gw: RelayingGateway;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-split-thresholds-'));
    await saveDictionary(path.join(dir, 'shared.tab'), trainedFilter().dict);
    await saveDictionary(path.join(dir, 'sales.tab'), trainedFilter().dict);
    gw = await startRelayingGateway({ config: {
      domains: ['example.com', 'sales.example.com', 'custa.example'],
      scores: { domains: { 'custa.example': { reject: 10 } } },
      plugins: [{
        name: 'bayes', dictionary: path.join(dir, 'shared.tab'), seed: 'none', min_learned: 10, split_recipients: true,
        recipient_dictionaries: [{ recipients: ['@sales.example.com'], dictionary: path.join(dir, 'sales.tab') }],
      }],
    } });
  });
  after(async () => {
    await gw?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Sends to `rcpts` as an MTA does: each deferred (452) recipient again in the next transaction, until none is left. */
  async function deliverAll(rcpts: string[]): Promise<Array<{ accepted: string[]; deferred: Array<[string, string]> }>> {
    const rounds = [];
    let left = rcpts;
    const d = await SmtpDialog.connect(gw.port);
    try {
      await d.hello();
      while (left.length) {
        assert.ok(rounds.length < rcpts.length, 'each transaction takes at least one recipient');
        assert.equal((await d.cmd('MAIL FROM:<someone@sender.test>')).code, 250);
        const accepted: string[] = [];
        const deferred: Array<[string, string]> = [];
        for (const to of left) {
          const r = await d.cmd(`RCPT TO:<${to}>`);
          if (r.code === 250) accepted.push(to);
          else { assert.equal(r.code, 452, r.text); deferred.push([to, r.text]); }
        }
        assert.equal((await d.data(testMessage({ from: 'someone@sender.test', subject: `round-${rounds.length}` }))).code, 250);
        rounds.push({ accepted, deferred });
        left = deferred.map(([to]) => to);
      }
    } finally { await d.quit(); }
    return rounds;
  }

  it('ends in one transaction per dictionary and threshold set, every recipient taken once', async () => {
    const rounds = await deliverAll(['sales@sales.example.com', 'a@custa.example', 'bob@example.com', 'ann@sales.example.com']);
    assert.deepEqual(rounds.map((r) => r.accepted), [
      ['sales@sales.example.com', 'ann@sales.example.com'],
      ['a@custa.example'],
      ['bob@example.com'],
    ]);
    // Each split answers in its own words in the log: the core by thresholds, bayes by dictionary.
    const first = rounds[0].deferred;
    assert.deepEqual(first.map(([to]) => to), ['a@custa.example', 'bob@example.com']);
    for (const [to, text] of first) assert.equal(text, `4.5.3 Too many recipients: send to <${to}> in another transaction`);
    const byCore = gw.logs.filter((l) => l.msg === 'recipient refused' && l.reason === 'scores.domains').map((l) => (l.to as string[])[0]);
    const byBayes = gw.logs.filter((l) => l.msg === 'bayes recipient deferred to another transaction').map((l) => (l.to as string[])[0]);
    assert.deepEqual(byCore, ['a@custa.example', 'bob@example.com'], 'round 1: custa\'s set is not the sales recipient\'s; round 2: example.com\'s is not custa\'s');
    assert.deepEqual(byBayes, ['bob@example.com'], 'in the first round bob\'s dictionary differs; custa\'s recipient never reached bayes');
    const copies = await gw.sink.waitFor(3);
    assert.deepEqual(copies.flatMap((m) => m.rcptTo).sort(), ['a@custa.example', 'ann@sales.example.com', 'bob@example.com', 'sales@sales.example.com']);
  });
});
