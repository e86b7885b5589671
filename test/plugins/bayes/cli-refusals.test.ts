// `moat bayes` through the real entry point: what a MailEnable admin's walk-through found it took when it should have
// refused (a merge into a mistyped name, a verify of nothing, a prune to 0 tokens), refused when it should have taken
// (`reload --set`, as its usage offers), or refused in the option parser's words rather than its own.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { writeCorpus } from './fixtures.ts';

const MOAT = path.resolve(import.meta.dirname, '..', '..', '..', 'scripts', 'moat.js');

function moat(...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [MOAT, 'bayes', ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('moat bayes: refusals a walk-through asked for', function () {
  this.timeout(60_000);
  let dir: string;
  let dict: string;
  let corpus: { spamDir: string; hamDir: string };
  const at = (...p: string[]) => path.join(dir, ...p);

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-cli-refusals-'));
    corpus = writeCorpus(at('corpus'), 12);
    dict = at('dict.tab');
    const made = moat('create', dict, corpus.spamDir, corpus.hamDir, '--no-reinforce');
    assert.equal(made.code, 0, made.err);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('merge into a dictionary that does not exist is refused, pointing to create, and makes no file', () => {
    const typo = at('dictionray.tab');
    const r = moat('merge', typo, corpus.spamDir, corpus.hamDir);
    assert.equal(r.code, 1, r.out + r.err);
    assert.equal(r.out, '');
    assert.match(r.err, new RegExp(`^moat bayes merge: ${typo} does not exist: merge adds to a dictionary; make a new one with \`moat bayes create ${typo} SPAMDIR HAMDIR\`$`, 'm'));
    assert.equal(fs.existsSync(typo), false);
    assert.equal(fs.existsSync(`${typo}.lock`), false);
    // An existing one still takes the merge.
    assert.equal(moat('merge', dict, corpus.spamDir, corpus.hamDir, '--no-reinforce').code, 0);
  });

  it('verify of a folder with no message, or only files that are none, is refused', () => {
    fs.mkdirSync(at('empty'));
    fs.mkdirSync(at('junk'));
    fs.writeFileSync(at('junk', 'photo.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a]));
    fs.writeFileSync(at('junk', 'index.dat'), '\x00\x01binary index');
    const empty = moat('verify', dict, at('empty'));
    assert.equal(empty.code, 1, empty.out + empty.err);
    assert.equal(empty.out, '');
    assert.match(empty.err, /^moat bayes verify: no message was found under .*empty: nothing to verify$/m);
    const junk = moat('verify', dict, at('junk'), '--json');
    assert.equal(junk.code, 1, junk.out + junk.err);
    assert.equal(junk.out, '', 'no summary of nothing');
    assert.match(junk.err, /^moat bayes verify: no message was found under .*junk \(skipped 2 files: 2 not a message .*\): nothing to verify$/m);
    // A folder with mail is verified as before.
    const some = moat('verify', dict, corpus.spamDir);
    assert.equal(some.code, 0, some.err);
    assert.match(some.out, /^12 messages: /m);
  });

  it('prune --max-tokens takes a whole number from 1, and says so in its own words for 0 and for a negative one', () => {
    const before = fs.readFileSync(dict);
    for (const args of [['--max-tokens', '0'], ['--max-tokens', '-5'], ['--max-tokens=-5'], ['--min-count', '-1'], ['--neutral', '-0.1']]) {
      const r = moat('prune', dict, ...args);
      assert.equal(r.code, 64, args.join(' '));
      const flag = args[0].replace(/=.*/, '');
      assert.match(r.err, new RegExp(`^${flag} must be a (whole )?number`), args.join(' '));
    }
    assert.match(moat('prune', dict, '--max-tokens', '0').err, /^--max-tokens must be a whole number, 1 or more/);
    assert.deepEqual(fs.readFileSync(dict), before, 'nothing was pruned');
    const kept = moat('prune', dict, '--min-count', '0', '--neutral', '0', '--max-tokens', '5', '--json');
    assert.equal(kept.code, 0, kept.err);
    assert.ok(JSON.parse(kept.out).tokensAfter >= 5);
    const cutoff = moat('verify', dict, corpus.spamDir, '--cutoff', '-0.5');
    assert.equal(cutoff.code, 64);
    assert.match(cutoff.err, /^--cutoff must be a number from 0 to 1/);
  });

  it('reload takes --set with --config, as its usage says, and reaches the data_dir it sets', () => {
    const dataDir = at('gateway-data');
    fs.mkdirSync(dataDir);
    const config = at('mailmoat.yaml');
    fs.writeFileSync(config, `data_dir: ${at('not-this-one')}\ndomains: [example.com]\n`);
    const r = moat('reload', '--config', config, '--set', `data_dir=${dataDir}`);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`^reload requested \\(${path.join(dataDir, 'bayes', 'reload')}\\)`));
    assert.ok(fs.existsSync(path.join(dataDir, 'bayes', 'reload')));
    assert.equal(fs.existsSync(at('not-this-one')), false);
    assert.match(moat('--help').out, /reload .*\[--config FILE \[--set KEY=VALUE\]… \| --data-dir DIR\]/);
    const both = moat('reload', '--set', `data_dir=${dataDir}`, '--data-dir', dataDir);
    assert.equal(both.code, 64);
    assert.match(both.err, /^reload takes --config FILE \(and --set\) or --data-dir DIR, not both/);
  });
});
