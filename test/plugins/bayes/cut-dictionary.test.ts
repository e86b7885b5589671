// A dictionary file that lost its end (`head -c`, a copy that stopped, the last bytes gone): the real CLI and a real
// gateway on it. The byte model's line is 2.8 MB of the shipped file; where it sits decides what such a cut costs.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { message, writeCorpus } from './fixtures.ts';
import { fromOutside } from './gateway-beds.ts';
import { startRelayingGateway } from '../../helpers/gateway.ts';
import { fromTab, type ReadReport } from '../../../plugins/bayes/engine/tab-file.ts';
import { moatBayes } from './moat-cli.ts';

function statsOf(file: string): { dictionary: string; tokens: number; bytes: number; byteGrams: unknown; malformed: ReadReport } {
  const r = moatBayes('stats', file, '--json');
  assert.equal(r.code, 0, r.err);
  return JSON.parse(r.out);
}

/**
 * `text`'s lines as files written before session 34 hold them: the byte model's moved from the second place to the
 * last, and no `#end` line.
 */
function modelLast(text: string): string {
  const lines = text.split('\n');
  assert.match(lines[1], /^#byte-grams\t/);
  assert.match(lines[lines.length - 2], /^#end\t\d+$/);
  return [lines[0], ...lines.slice(2, -2), lines[1], ''].join('\n');
}

/** The probability `moat bayes score` gives `raw` with `dict`. */
function scoreWith(dict: string, dir: string, raw: string): number {
  const f = path.join(dir, 'scored.eml');
  fs.writeFileSync(f, raw);
  const r = moatBayes('score', dict, f, '--json');
  assert.equal(r.code, 0, r.err);
  return JSON.parse(r.out).probability;
}

describe('bayes: a dictionary file cut short', function () {
  this.timeout(60_000);
  let dir: string;
  let whole: string;
  let wholeText: string;
  let wholeTokens: number;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-cut-'));
    const { spamDir, hamDir } = writeCorpus(path.join(dir, 'train'), 25);
    whole = path.join(dir, 'whole.tab');
    const r = moatBayes('create', whole, spamDir, hamDir, '--json');
    assert.equal(r.code, 0, r.err);
    wholeText = fs.readFileSync(whole, 'latin1');
    wholeTokens = JSON.parse(r.out).tokens;
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('writes the byte model second: a cut loses the last tokens, keeps the model, and its cut line is passed over', () => {
    const lines = wholeText.split('\n');
    assert.match(lines[1], /^#byte-grams\t4\t/, 'the model right after the message counts');
    assert.ok(wholeText.length > 2_000_000, 'the model is most of this file');
    const cut = path.join(dir, 'cut-new.tab');
    const kept = wholeText.slice(0, -50);
    fs.writeFileSync(cut, kept, 'latin1');
    const ended = kept.split('\n').length - 1;
    const s = statsOf(cut);
    assert.notEqual(s.byteGrams, null, 'the model survives');
    assert.equal(s.tokens, ended - 2, 'every whole line is read; the counts line and the model are no tokens');
    assert.deepEqual([s.malformed.count, s.malformed.first, s.malformed.droppedModel], [1, ended + 1, undefined], 'the line the cut went through');
    assert.equal(moatBayes('import', cut, cut).code, 0);
    const mended = statsOf(cut);
    assert.deepEqual([mended.tokens, mended.malformed.count], [ended - 2, 0]);
    assert.notEqual(mended.byteGrams, null);
    assert.ok(fs.readFileSync(cut, 'latin1').endsWith('\n'));
  });

  it('reads an older file, the model last, as it read it: the same tokens and model as the file written now', () => {
    const old = path.join(dir, 'old.tab');
    fs.writeFileSync(old, modelLast(wholeText), 'latin1');
    const [a, b] = [statsOf(old), statsOf(whole)];
    // The same but for the bytes of the `#end` line, which older files do not have.
    const endLine = /\n(#end\t\d+\n)$/.exec(wholeText)![1];
    assert.deepEqual(a, { ...b, dictionary: old, bytes: b.bytes - endLine.length });
    const copy = path.join(dir, 'old-rewritten.tab');
    assert.equal(moatBayes('import', copy, old).code, 0);
    assert.equal(fs.readFileSync(copy, 'latin1'), wholeText, 'written again, the model goes second');
  });

  it('an older file cut inside its model: stats, export and import read every token, leave the model out and say so; import DICT DICT mends it', () => {
    const cut = path.join(dir, 'cut-old.tab');
    const old = modelLast(wholeText);
    fs.writeFileSync(cut, old.slice(0, -50), 'latin1');
    const modelLine = old.split('\n').length - 1;
    const said = new RegExp(`passed over 1 malformed line \\(the first: line ${modelLine}\\); left out the byte model, whose line ${modelLine} is damaged \\(byte-gram state: \\d+ values for 2\\^18 buckets\\): scoring without it`);

    const stats = moatBayes('stats', cut);
    assert.equal(stats.code, 0, stats.err);
    assert.match(stats.out, said);
    assert.match(stats.out, /\nno byte model\n/);
    const exported = moatBayes('export', cut, path.join(dir, 'exported.tab'), '--with-weights');
    assert.equal(exported.code, 0, exported.err);
    assert.match(exported.out, said);
    assert.equal(statsOf(path.join(dir, 'exported.tab')).tokens, wholeTokens);

    // A command that cannot say so refuses, naming the mend, rather than score without the model unawares.
    const score = moatBayes('score', cut, path.join(dir, 'train', 'spam', 's1.eml'));
    assert.equal(score.code, 1);
    assert.match(score.err, /the #byte-grams line is malformed.*`moat bayes import` of it into itself keeps its tokens and leaves the model out/);

    const mend = moatBayes('import', cut, cut);
    assert.equal(mend.code, 0, mend.err);
    assert.match(mend.out, said);
    const mended = statsOf(cut);
    assert.deepEqual([mended.tokens, mended.malformed.count, mended.byteGrams], [wholeTokens, 0, null]);

    // It scores as the dictionary without that model does, and still tells spam from ham.
    const noModel = path.join(dir, 'no-model.tab');
    fs.writeFileSync(noModel, wholeText.split('\n').filter((l) => !l.startsWith('#byte-grams')).join('\n'), 'latin1');
    const spam = message({ spam: true, seed: 77 });
    const ham = message({ spam: false, seed: 77 });
    assert.equal(scoreWith(cut, dir, spam), scoreWith(noModel, dir, spam));
    assert.equal(scoreWith(cut, dir, ham), scoreWith(noModel, dir, ham));
    assert.ok(scoreWith(cut, dir, spam) > 0.9 && scoreWith(cut, dir, ham) < 0.1);
  });

  it('a reader given no report refuses a damaged model; one given a report reads on', () => {
    const bytes = Buffer.from('2\t2\nword\t1\t0\n#byte-grams\t4\t1000\t18\t1\tAAAAAA==\n');
    assert.throws(() => fromTab(bytes), /^Error: line 3: the #byte-grams line is malformed: byte-gram state: 1 values for 2\^18 buckets \(a file cut short there\?/);
    const report: ReadReport = { count: 0, first: 0 };
    const d = fromTab(bytes, report);
    assert.deepEqual([d.size, d.byteGrams, report.count, report.first], [1, undefined, 1, 3]);
    // A whole model of another version's kind stays an error: the file is not damaged, and this version cannot use it.
    assert.throws(() => fromTab(Buffer.from('1\t1\n#byte-grams\t5\t1024\t16\t60\t0\tAAAA\n'), { count: 0, first: 0 }), /byte model is of kind 5/);
  });

  it('a gateway started on it scores with its tokens, warns that the model was left out, and adds X-Mailmoat-Bayes', async () => {
    const cut = path.join(dir, 'gateway.tab');
    fs.writeFileSync(cut, modelLast(wholeText).slice(0, -50), 'latin1');
    const gw = await startRelayingGateway({ config: { plugins: [{ name: 'bayes', dictionary: cut, seed: 'none', min_learned: 10 }] } });
    try {
      assert.equal(gw.logs.find((l) => l.msg === 'plugin disabled'), undefined);
      const warned = gw.logs.find((l) => l.msg === 'bayes dictionary file refused');
      assert.match(String(warned?.reason), /^1 malformed line \(the first is line \d+\); left out the byte model, whose line \d+ is damaged/);
      assert.match(String(warned?.detail), new RegExp(`scoring with the ${wholeTokens} tokens read`));
      assert.equal((await fromOutside(gw.port, message({ spam: true, seed: 88, subject: 'cut-dictionary spam' }), ['bob@example.com'])).code, 250);
      const relayed = await gw.sink.waitForText('cut-dictionary spam');
      const header = relayed.split('\r\n\r\n')[0].split('\r\n').find((l) => /^X-Mailmoat-Bayes:/i.test(l));
      assert.match(String(header), /^X-Mailmoat-Bayes: (0\.9\d{3}|1\.0000)$/);
    } finally {
      await gw.stop();
    }
  });
});
