// Two things `moat bayes` passed over without a word: a FIFO among the training messages, and a lock file left by a
// writer killed with kill -9, which the next writer broke.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { message } from './fixtures.ts';
import { moatBayes } from './moat-cli.ts';

describe('moat bayes: a FIFO in a training folder, a stale lock', function () {
  this.timeout(30_000);
  let dir: string;

  before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-odd-files-')); });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('lists a FIFO, and a link to one, under skipped, and learns the rest', () => {
    const [spam, ham] = [path.join(dir, 'spam'), path.join(dir, 'ham')];
    fs.mkdirSync(spam);
    fs.mkdirSync(ham);
    fs.writeFileSync(path.join(spam, 's.eml'), message({ spam: true, seed: 1 }));
    fs.writeFileSync(path.join(ham, 'h.eml'), message({ spam: false, seed: 1 }));
    execFileSync('mkfifo', [path.join(spam, 'pipe')]);
    fs.symlinkSync(path.join(spam, 'pipe'), path.join(ham, 'to-pipe'));
    const r = moatBayes('create', path.join(dir, 'd.tab'), spam, ham, '--json');
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    assert.deepEqual([j.learned.spam, j.learned.ham], [1, 1]);
    assert.deepEqual(j.skipped, [{ file: path.join(spam, 'pipe'), reason: 'FIFO' }, { file: path.join(ham, 'to-pipe'), reason: 'FIFO' }]);
    const text = moatBayes('create', path.join(dir, 'd.tab'), spam, ham);
    assert.match(text.err, /skipped 2 files: 2 FIFO \(first: \S+pipe, FIFO\)/);
  });

  it('says on stderr that it removed a lock whose writer is gone', () => {
    const dict = path.join(dir, 'locked.tab');
    fs.writeFileSync(dict, '2\t1\nword\t1\t1\n');
    // A process that has exited: its pid in the lock is what kill -9 of a writer leaves.
    const gone = spawnSync(process.execPath, ['-e', '']).pid;
    fs.writeFileSync(`${dict}.lock`, `${gone}\n2026-01-01T00:00:00.000Z\n`);
    const r = moatBayes('import', dict, dict);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, new RegExp(`^moat bayes import: removed the stale lock ${dict}\\.lock: process ${gone}, which took it at \\S+, is no longer running$`, 'm'));
    assert.ok(!fs.existsSync(`${dict}.lock`));
    assert.match(r.out, /^imported 1 token/);
  });
});
