// A dictionary file cut exactly at a line break: every line left is whole, so only its missing `#end` line shows the
// loss. The real CLI and the gateway's live dictionary (its file thread) must take it as cut, and never write the rest
// back over it until it is mended.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Dictionary } from '../../../plugins/bayes/engine/dictionary.ts';
import { ByteGramModel } from '../../../plugins/bayes/engine/byte-grams.ts';
import { fromTab, toTab, type ReadReport } from '../../../plugins/bayes/engine/tab-file.ts';
import { loadDictionary, saveDictionary } from '../../../plugins/bayes/engine/persist.ts';
import { DictionaryFileRefused, LiveDictionary } from '../../../plugins/bayes/live-dictionary.ts';
import { moatBayes } from './moat-cli.ts';

const TOKENS = 500;

function withModel(): Dictionary {
  const d = new Dictionary();
  for (let i = 0; i < TOKENS; i++) d.add(`word${i}`, 1 + (i % 3), i % 4, ((i % 7) - 3) / 8);
  d.nspam = 40;
  d.nham = 50;
  const state = new Float32Array(2 << 10);
  for (let b = 0; b < state.length; b += 2) state[b] = ((b % 13) - 6) / 10;
  d.byteGrams = new ByteGramModel(state, 90, 10);
  return d;
}

/** `text` without its last `n` lines, cut right after a line break. */
function withoutLastLines(text: string, n: number): string {
  const lines = text.split('\n');
  return lines.slice(0, lines.length - 1 - n).join('\n') + '\n';
}

describe('bayes: a dictionary file cut at a line break', function () {
  this.timeout(60_000);
  let dir: string;
  let file: string;
  let wholeText: string;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-cut-break-'));
    file = path.join(dir, 'dict.tab');
    await saveDictionary(file, withModel());
    wholeText = fs.readFileSync(file, 'latin1');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('is written with the model second and an #end line naming its token lines last', () => {
    const lines = wholeText.split('\n');
    assert.match(lines[1], /^#byte-grams\t4\t/);
    assert.equal(lines[lines.length - 2], `#end\t${TOKENS}`);
    const report: ReadReport = { count: 0, first: 0 };
    assert.equal(fromTab(Buffer.from(wholeText, 'latin1'), report).size, TOKENS);
    assert.deepEqual(report, { count: 0, first: 0 });
    // An export for MailEnable has no model, and no #end line either.
    assert.doesNotMatch(toTab(withModel(), false).toString('latin1'), /#end/);
  });

  it('cut before its #end line, or before some tokens too, reads every whole line and counts the cut as one malformed line', () => {
    for (const lost of [1, 2, 40]) {
      const report: ReadReport = { count: 0, first: 0 };
      const d = fromTab(Buffer.from(withoutLastLines(wholeText, lost), 'latin1'), report);
      const left = TOKENS - (lost - 1);
      assert.equal(d.size, left, `${lost} lines lost`);
      assert.notEqual(d.byteGrams, undefined, 'the model is kept');
      assert.deepEqual([report.count, report.first], [1, left + 3], 'the place of the missing #end line');
      assert.match(report.cutShort ?? '', /ends without its #end line: cut short at a line break/);
    }
    // A line added after #end, or an #end naming other lines than the file holds, is no file our writer wrote.
    const added: ReadReport = { count: 0, first: 0 };
    fromTab(Buffer.from(`${wholeText}extra\t1\t1\n`, 'latin1'), added);
    assert.deepEqual([added.count, added.first], [1, TOKENS + 4]);
    const wrong: ReadReport = { count: 0, first: 0 };
    fromTab(Buffer.from(wholeText.replace(`#end\t${TOKENS}\n`, `#end\t${TOKENS + 7}\n`), 'latin1'), wrong);
    assert.deepEqual([wrong.count, wrong.first], [1, TOKENS + 3]);
    assert.equal(wrong.cutShort, `its #end line says ${TOKENS + 7} token lines, and it holds ${TOKENS}`);
  });

  it('stats says so, and import DICT DICT mends it: written again whole, with its #end line', () => {
    const cut = path.join(dir, 'cli.tab');
    fs.writeFileSync(cut, withoutLastLines(wholeText, 3), 'latin1');
    const stats = moatBayes('stats', cut, '--json');
    assert.equal(stats.code, 0, stats.err);
    const s = JSON.parse(stats.out);
    assert.deepEqual([s.tokens, s.malformed.count], [TOKENS - 2, 1]);
    assert.equal(moatBayes('import', cut, cut).code, 0);
    const mended = JSON.parse(moatBayes('stats', cut, '--json').out);
    assert.deepEqual([mended.tokens, mended.malformed.count], [TOKENS - 2, 0]);
    assert.ok(fs.readFileSync(cut, 'latin1').endsWith(`\n#end\t${TOKENS - 2}\n`));
  });

  it('the gateway\'s live dictionary takes it with a warning, and never writes over it until it is whole again', async () => {
    const f = path.join(dir, 'live.tab');
    fs.writeFileSync(f, withoutLastLines(wholeText, 5), 'latin1');
    const damaged = fs.readFileSync(f);
    const live = new LiveDictionary(f);
    try {
      const report = await live.load();
      assert.ok(report instanceof DictionaryFileRefused, String(report));
      assert.match(report.message, /is damaged: 1 malformed line \(the first is line \d+\); it ends without its #end line: cut short at a line break after line \d+; scoring with the 496 tokens read/);
      live.learn(['kept'], true);
      await live.flush();
      assert.ok(fs.readFileSync(f).equals(damaged), 'not written over');
      assert.equal(live.hasPending(), true);

      fs.writeFileSync(f, wholeText, 'latin1');
      const t = new Date(Date.now() + 5_000);
      fs.utimesSync(f, t, t);
      assert.equal(await live.reloadIfChanged(), true);
      await live.flush();
      const saved = await loadDictionary(f);
      assert.deepEqual([saved.spamOf('kept'), saved.size, live.hasPending()], [1, TOKENS + 1, false]);
    } finally { await live.close(); }
  });
});
