// The eval's peer filters, run for real (Debian's bogofilter and crm114) on a small synthetic split: each must
// learn, score every test message, and tell the two vocabularies apart.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { message } from '../../plugins/bayes/fixtures.ts';
import { BogofilterRun } from '../../../scripts/bayes/bogofilter.ts';
import { runCrm114 } from '../../../scripts/bayes/crm114.ts';
import { rocArea, type Scored } from '../../../scripts/bayes/metrics.ts';
import type { CorpusMessage } from '../../../scripts/bayes/corpus.ts';
import { ensureCommands } from '../../helpers/system-packages.ts';

function corpus(from: number, n: number): CorpusMessage[] {
  const out: CorpusMessage[] = [];
  for (let i = from; i < from + n; i++) {
    for (const spam of [true, false]) out.push({ set: 'synthetic', name: `${spam ? 's' : 'h'}${i}`, file: '', spam, raw: Buffer.from(message({ spam, seed: i })) });
  }
  return out;
}

describe('bayes eval peers', function () {
  this.timeout(120_000);
  const train = corpus(0, 20);
  const test = corpus(20, 6);
  let dir: string;

  before(() => {
    ensureCommands({ bogofilter: 'bogofilter', crm: 'crm114' });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-peers-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const separates = (results: Scored[]) => {
    assert.equal(results.length, test.length);
    results.forEach((r, i) => {
      assert.equal(r.spam, test[i].spam);
      assert.ok(r.p >= 0 && r.p <= 1, `probability ${r.p}`);
    });
    assert.equal(rocArea(results), 1, 'every spam ranks above every ham');
  };

  it('bogofilter trains on the mboxes and scores every test file', async () => {
    fs.mkdirSync(path.join(dir, 'bogo'));
    const run = new BogofilterRun(path.join(dir, 'bogo'), train, test, (m) => m.raw);
    assert.ok(await run.train() > 0);
    const { results, seconds } = await run.score();
    assert.ok(seconds > 0);
    separates(results);
  });

  it('crm114 learns each message and classifies every test message, its pR kept for ranking', async () => {
    const results = await runCrm114(path.join(dir, 'crm'), train, test, (m) => m.raw);
    separates(results);
    for (const r of results) {
      assert.equal(typeof r.tie, 'number');
      assert.equal(r.p > 0.5, r.tie! > 0, 'a positive pR is a spam verdict');
    }
  });
});
