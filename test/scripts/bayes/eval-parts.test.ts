// The eval script's parts: deterministic split, X-Spam-* stripping, ROC area and rates, bogofilter's scores, and
// the command lines of the eval and the default dictionary's build.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { inTraining, splitCorpus, stripSpamHeaders, type CorpusMessage } from '../../../scripts/bayes/corpus.ts';
import { figures, rocArea, seededRandom, spamCaughtAtHamRates, spamCaughtInterval } from '../../../scripts/bayes/metrics.ts';
import { BogofilterRun, defaultCutoff, ensurePeer } from '../../../scripts/bayes/bogofilter.ts';
import { ensureCommands } from '../../helpers/system-packages.ts';

const scripts = fileURLToPath(new URL('../../../scripts/bayes/', import.meta.url));
const msg = (set: string, name: string, raw: string, spam = true): CorpusMessage => ({ set, name, file: `${set}/${name}`, spam, raw: Buffer.from(raw) });

/** A node run of one of the scripts, as `npm run` starts it. */
function script(name: string, args: string[]) {
  return spawnSync(process.execPath, [path.join(scripts, name), ...args], { encoding: 'utf8', timeout: 60_000 });
}

describe('bayes eval parts', () => {
  it('splits by a hash of the name: stable, and close to the asked share', () => {
    const names = Array.from({ length: 2000 }, (_v, i) => `msg${i}`);
    const a = names.filter((n) => inTraining('set', n, 60));
    const b = names.filter((n) => inTraining('set', n, 60));
    assert.deepEqual(a, b);
    assert.ok(a.length > 1100 && a.length < 1300, `${a.length} of 2000`);
  });

  it('keeps byte-for-byte copies on one side of the split, the side of the first by set and name', () => {
    // Names the hash alone sends to different sides; set "b" sorts after set "a".
    const names = Array.from({ length: 100 }, (_v, i) => `m${i}`);
    const toTrain = names.find((n) => inTraining('a', n, 60))!;
    const toTest = names.filter((n) => !inTraining('b', n, 60));
    const files = [
      msg('b', toTest[0], 'Subject: same spam\n\nbuy now'),
      msg('a', toTrain, 'Subject: same spam\n\nbuy now'),
      msg('b', toTest[1], 'Subject: a message of its own\n\nhello'),
    ];
    for (const order of [files, [...files].reverse()]) {
      const { train, test } = splitCorpus(order, 60);
      assert.deepEqual(train.map((m) => m.file).sort(), [`a/${toTrain}`, `b/${toTest[0]}`], 'the copy follows its first copy into training');
      assert.deepEqual(test.map((m) => m.file), [`b/${toTest[1]}`], 'a file without copies keeps its own side');
    }
  });

  it('strips X-Spam-* fields with their folded lines and nothing else', () => {
    const raw = Buffer.from('From: a@b\nX-Spam-Status: Yes,\n\ttests=FOO\nX-Spam-Level: ***\nSubject: hi\n\nX-Spam-Body: stays\n');
    assert.equal(stripSpamHeaders(raw).toString(), 'From: a@b\nSubject: hi\n\nX-Spam-Body: stays\n');
  });

  it('strips X-Spam-* fields in any case from CRLF messages, leaving each kept line its own line break', () => {
    const raw = Buffer.from('x-spam-flag: YES\r\n  folded\r\nFrom: a@b\r\nX-SPAM-Level: **\r\n\r\nbody\r\n');
    assert.equal(stripSpamHeaders(raw).toString(), 'From: a@b\r\n\r\nbody\r\n');
    const unchanged = Buffer.from('From: a@b\r\nX-Spamadvice: a field of another name\r\n\r\nX-Spam-Flag: in the body\r\n');
    assert.equal(stripSpamHeaders(unchanged), unchanged);
  });

  it('computes ROC area with ties counted half, and rates at a cutoff', () => {
    assert.equal(rocArea([{ spam: true, p: 0.9 }, { spam: false, p: 0.1 }]), 1);
    assert.equal(rocArea([{ spam: true, p: 0.5 }, { spam: false, p: 0.5 }]), 0.5);
    assert.equal(rocArea([{ spam: true, p: 1, tie: 5 }, { spam: false, p: 1, tie: 2 }]), 1, 'the tie key orders equal probabilities');
    const f = figures([{ spam: true, p: 0.95 }, { spam: true, p: 0.5 }, { spam: false, p: 0.2 }, { spam: false, p: 0.92 }], 0.9);
    assert.deepEqual([f.spamCaught, f.hamAsSpam], [50, 50]);
  });

  it('gives spam caught at ham rates, and agrees with the 0.1% figure', () => {
    // 1,000 ham at p = i/1000 (0 … 0.999) and 10 spam at 0.9905 … 0.9995: at 0.1% one ham may be above the cutoff,
    // so the bar is the second-highest ham (0.998); at 1%, ten may, so it is the eleventh (0.989).
    const results = [
      ...Array.from({ length: 1000 }, (_v, i) => ({ spam: false, p: i / 1000 })),
      ...Array.from({ length: 10 }, (_v, i) => ({ spam: true, p: 0.9905 + i / 1000 })),
    ];
    const [at01, at1] = spamCaughtAtHamRates(results, [0.001, 0.01]);
    assert.equal(at01, 20, '0.9985 and 0.9995 lie above 0.998');
    assert.equal(at1, 100);
    assert.equal(figures(results, 0.9).spamAtHam01, at01);
  });

  it('gives the bootstrap interval of spam caught at a ham rate that resampling by hand gives', () => {
    // 2,000 ham and 500 spam whose scores overlap near the top, as a filter's do.
    const draw = seededRandom(7);
    const results = [
      ...Array.from({ length: 2000 }, () => ({ spam: false, p: draw() ** 3 })),
      ...Array.from({ length: 500 }, () => ({ spam: true, p: 0.7 + 0.3 * draw() })),
    ];
    // The function draws from the ham sorted highest first and the spam lowest first, so the same random numbers
    // pick the same messages here.
    const ham = results.filter((r) => !r.spam).sort((a, b) => b.p - a.p);
    const spam = results.filter((r) => r.spam).sort((a, b) => a.p - b.p);
    // The definition: draw each class again with replacement (ham first, then spam, from the same generator), then
    // take the figure of each draw; 200 draws, so the middle 95% runs from the 6th-lowest figure to the 6th-highest.
    const random = seededRandom(3);
    const pick = <T,>(xs: T[]) => xs.map(() => xs[Math.floor(random() * xs.length)]);
    const byHand = Array.from({ length: 200 }, () => {
      const h = pick(ham);
      return spamCaughtAtHamRates([...h, ...pick(spam)], [0.005])[0];
    }).sort((a, b) => a - b);
    const [low, high] = spamCaughtInterval(results, 0.005, { resamples: 200, seed: 3 });
    assert.deepEqual([low, high], [byHand[Math.round(0.025 * 199)], byHand[Math.round(0.975 * 199)]]);
    const point = spamCaughtAtHamRates(results, [0.005])[0];
    assert.ok(low < point && point < high, `${low} < ${point} < ${high}`);
    assert.deepEqual(spamCaughtInterval(results, 0.005, { resamples: 200, seed: 3 }), [low, high], 'the same seed, the same interval');
    const apart = [{ spam: false, p: 0.1 }, { spam: false, p: 0.2 }, { spam: true, p: 0.8 }];
    assert.deepEqual(spamCaughtInterval(apart, 0.001), [100, 100], 'every draw of classes that do not overlap catches all spam');
  });

  describe('bogofilter', function () {
    this.timeout(60_000);
    let dir: string;
    before(() => {
      ensureCommands({ bogofilter: 'bogofilter' });
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eval-parts-bogo-'));
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('refuses a test file bogofilter gave no score, instead of guessing one', async () => {
      const train = [msg('s', 'spam', 'Subject: cheap pills\n\nbuy cheap pills now'), msg('s', 'ham', 'Subject: lunch\n\nsee you at lunch', false)];
      const test = [0, 1, 2].map((i) => msg('s', `t${i}`, `Subject: pills ${i}\n\ncheap pills`));
      const run = new BogofilterRun(dir, train, test, (m) => m.raw);
      await run.train();
      assert.equal((await run.score()).results.length, 3);
      // bogofilter stops at a file it cannot open and scores none after it.
      fs.rmSync(path.join(dir, 'test', '1'));
      await assert.rejects(run.score(), /no score for .*test\/1 \(1 of 3 files scored\)/);
    });

    it('reads its own spam cutoff from its built-in defaults', () => {
      assert.equal(defaultCutoff(), 0.99);
    });

    it('says what to do when a peer cannot be installed', () => {
      const failing = () => { throw new Error('apt-get failed'); };
      assert.throws(() => ensurePeer('bogofilter', 'bogofilter', 'run with --no-bogofilter', failing), /bogofilter is missing and could not be installed \(apt-get failed\); install the Debian package bogofilter \(apt-get install bogofilter\) or run with --no-bogofilter/);
    });
  });

  describe('command lines', function () {
    this.timeout(60_000);
    let dir: string;
    before(() => {
      // A corpus of two messages, so that a run that should not have started ends quickly.
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eval-parts-cli-'));
      for (const [cls, text] of [['spam', 'Subject: cheap pills\n\nbuy now'], ['ham', 'Subject: lunch\n\nat noon']]) {
        fs.mkdirSync(path.join(dir, 'corpus', 'set', cls), { recursive: true });
        fs.writeFileSync(path.join(dir, 'corpus', 'set', cls, '1'), text);
      }
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('eval --help prints its usage and runs nothing', () => {
      const r = script('eval.ts', ['--help', '--corpus', path.join(dir, 'nowhere')]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^usage: npm run eval:bayes -- .*--no-bogofilter/s);
    });

    it('eval refuses options it does not know and numbers that do not parse', () => {
      for (const args of [['--train', 'sixty'], ['--train', '100'], ['--cutoff', '2'], ['--runs', '0'], ['--no-bogo'], ['extra']]) {
        const r = script('eval.ts', [...args, '--corpus', path.join(dir, 'nowhere')]);
        assert.equal(r.status, 64, `${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, /usage: npm run eval:bayes/);
      }
    });

    it('build-default --help prints its usage and writes no dictionary', () => {
      const out = path.join(dir, 'built.tab');
      const r = script('build-default.ts', ['--help', '--corpus', path.join(dir, 'corpus'), '--out', out]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^usage: node scripts\/bayes\/build-default.ts/);
      assert.equal(fs.existsSync(out), false);
      assert.equal(script('build-default.ts', ['--max-tokens', 'many', '--corpus', path.join(dir, 'corpus'), '--out', out]).status, 64);
      assert.equal(fs.existsSync(out), false);
    });
  });
});
