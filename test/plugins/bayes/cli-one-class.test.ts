// `moat bayes learn-spam` and `learn-ham`: one class learned from one folder, as `rspamc learn_spam` does, where
// `merge` asked an admin with spam alone for an empty ham folder. Into a dictionary file, and with --config into the
// counts the gateways share through Redis; merge keeps its form. The real CLI in a child process, a real Redis.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { stringify } from 'yaml';
import { startRedis, type RedisHandle } from '../../helpers/redis.ts';
import { moatBayes, useCreatedDictionary } from './moat-cli.ts';
import { writeCorpus } from './fixtures.ts';

/** The message counts on the dictionary's first line (`spam ham`), as `stats --json` reports them. */
function counts(dict: string): { spam: number; ham: number } {
  const r = moatBayes('stats', dict, '--json');
  assert.equal(r.code, 0, r.err);
  const s = JSON.parse(r.out);
  return { spam: s.messages.spam, ham: s.messages.ham };
}

describe('moat bayes learn-spam and learn-ham', function () {
  this.timeout(60_000);
  const bed = useCreatedDictionary('bayes-cli-one-class-', 10);
  const at = (...p: string[]) => bed.at(...p);

  it('learn-spam adds a folder of spam alone, and says what the balance rule then makes of the totals', () => {
    const more = writeCorpus(at('more'), 6, 100);
    const r = moatBayes('learn-spam', bed.dict, more.spamDir);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`^merged into ${bed.dict.replace(/[.]/g, '\\.')}: learned 6 spam and 0 ham.*; now 16 spam, 10 ham, \\d+ tokens$`, 'm'));
    assert.deepEqual(counts(bed.dict), { spam: 16, ham: 10 });
    assert.equal(r.err, `note: ${bed.dict} now holds 6 more spam than ham: under the bayes plugin's balance rule (balance: true, the default) the gateways' auto-training `
      + 'learns no spam (from honeypots, ham addresses or verdicts) until ham catches up to within balance_slack (this command, as a recipient\'s release or block, '
      + 'was learned whatever the totals)\n');
  });

  it('learn-ham adds a folder of ham alone; with --json only the JSON line', () => {
    const more = writeCorpus(at('more-ham'), 6, 200);
    const r = moatBayes('learn-ham', bed.dict, more.hamDir, '--json');
    assert.equal(r.code, 0, r.err);
    assert.equal(r.err, '');
    const j = JSON.parse(r.out);
    assert.deepEqual(j.learned, { spam: 0, ham: 6 });
    assert.deepEqual(j.messages, { spam: 16, ham: 16 });
  });

  it('merge DICT SPAMDIR HAMDIR works as before, and one-class commands refuse what they do not take', () => {
    const merged = moatBayes('merge', bed.dict, bed.corpus.spamDir, bed.corpus.hamDir, '--no-reinforce', '--json');
    assert.equal(merged.code, 0, merged.err);
    assert.deepEqual(JSON.parse(merged.out).learned, { spam: 10, ham: 10 });

    const missing = moatBayes('learn-spam', bed.dict);
    assert.equal(missing.code, 64);
    assert.match(missing.err, /^learn-spam needs DICT DIR$/m);
    const extra = moatBayes('learn-ham', bed.dict, bed.corpus.hamDir, bed.corpus.spamDir);
    assert.equal(extra.code, 64);
    assert.match(extra.err, new RegExp(`^learn-ham takes DICT DIR; unexpected: ${bed.corpus.spamDir}$`, 'm'));
    const typo = at('dictionray.tab');
    const nowhere = moatBayes('learn-spam', typo, bed.corpus.spamDir);
    assert.equal(nowhere.code, 1);
    assert.match(nowhere.err, new RegExp(`^moat bayes learn-spam: ${typo} does not exist: learn-spam adds to a dictionary; make a new one with`, 'm'));
    assert.equal(fs.existsSync(typo), false);
    const gone = moatBayes('learn-ham', bed.dict, at('no-such-folder'));
    assert.equal(gone.code, 1);
    assert.match(gone.err, /^moat bayes learn-ham: .*no-such-folder does not exist$/m);
  });

  describe('--config: the counts the gateways share', () => {
    let redis: RedisHandle;
    before(async () => { redis = await startRedis(); });
    after(async () => { await redis?.stop(); });

    it('learn-spam --config FILE DIR teaches the shared counts one class', () => {
      const config = at('shared.yaml');
      fs.writeFileSync(config, stringify({
        data_dir: at('data'), state: { backend: 'redis', redis: { url: redis.url, prefix: 'one-class:' } },
        plugins: [{ name: 'bayes', dictionary: bed.dict, seed: 'none' }],
      }));
      const r = moatBayes('learn-spam', '--config', config, bed.corpus.spamDir, '--json');
      assert.equal(r.code, 0, r.err);
      const j = JSON.parse(r.out);
      assert.deepEqual(j.learned, { spam: 10, ham: 0 });
      assert.deepEqual(j.store.messages, { spam: 10, ham: 0 });
      const wrong = moatBayes('learn-ham', '--config', config, bed.corpus.hamDir, bed.corpus.spamDir);
      assert.equal(wrong.code, 64);
      assert.match(wrong.err, /^learn-ham takes DIR; unexpected: /m);
    });
  });
});
