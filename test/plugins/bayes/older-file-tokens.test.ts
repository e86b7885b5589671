// Tokens of dictionaries written before tokens lost their whitespace: `arial black` as it came, `arial _black` and
// `arial_ black` where the old writer made a line break `_`. Read now, each is the token the tokenizer emits for the
// same text, so their counts score again, added together.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tokenize } from '../../../plugins/bayes/engine/tokenizer.ts';
import { fromTab, type ReadReport } from '../../../plugins/bayes/engine/tab-file.ts';
import { olderFileToken } from '../../../plugins/bayes/engine/file-token.ts';
import { moatBayes } from './moat-cli.ts';

/** An HTML message naming a font whose name the line breaks in `face` split. */
function fontMail(face: string): string {
  return ['From: deals@promo.test', 'To: bob@example.com', 'Subject: fonts', 'Content-Type: text/html', '',
    `<html><body><font face="${face}">Big offer</font></body></html>`, ''].join('\r\n');
}

const OLDER_FILE = [
  '20\t30',
  'h:font:face=arial black\t2\t0',
  'h:font:face=arial _black\t1\t1\t0.250000',
  'h:font:face=arial_ black\t0\t1',
  'an:price list\u00a02024.pdf\t4\t0',
  'plain\t1\t1',
  'under__score\t1\t0',
  '',
].join('\n');

describe('bayes: tokens with whitespace in older dictionary files', function () {
  this.timeout(60_000);

  it('read as the tokens the tokenizer now emits, their lines\' counts added', () => {
    const emitted = new Set([
      ...tokenize(fontMail('Arial Black')).keys(),
      ...tokenize(fontMail('Arial \r\nBlack')).keys(),
      ...tokenize(fontMail('Arial\r\n Black')).keys(),
    ].filter((t) => t.startsWith('h:font:face=')));
    assert.deepEqual([...emitted], ['h:font:face=arial_black']);

    const report: ReadReport = { count: 0, first: 0 };
    const d = fromTab(Buffer.from(OLDER_FILE, 'utf8'), report);
    assert.equal(report.count, 0);
    const tokens = [...d.entries()].map((e) => [e.token, e.spam, e.ham]);
    assert.deepEqual(tokens, [
      ['h:font:face=arial_black', 3, 2],
      ['an:price_list_2024.pdf', 4, 0],
      ['plain', 1, 1],
      ['under__score', 1, 0],
    ]);
    assert.equal(d.spamOf('h:font:face=arial_black'), 3);
  });

  it('imported by the CLI, an older file is written with one line per token and no whitespace in any', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-older-'));
    try {
      const older = path.join(dir, 'older.tab');
      const now = path.join(dir, 'now.tab');
      fs.writeFileSync(older, OLDER_FILE);
      const r = moatBayes('import', now, older);
      assert.equal(r.code, 0, r.err);
      const written = fs.readFileSync(now, 'utf8');
      assert.match(written, /^h:font:face=arial_black\t3\t2\t/m);
      assert.equal(written.split('\n').filter((l) => l.startsWith('h:font:face=')).length, 1);
      assert.doesNotMatch(written.split('\n').slice(1).map((l) => l.split('\t')[0]).join('\n'), /[ \u00a0]/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('leaves underscores alone where no whitespace stands beside them, and never scans a token twice', () => {
    assert.equal(olderFileToken('a__b'), 'a__b');
    assert.equal(olderFileToken('a _ b'), 'a_b');
    assert.equal(olderFileToken(' lead'), '_lead');
    assert.equal(olderFileToken('x\ud800'), 'x\ufffd');
    const long = `${'_'.repeat(200_000)} x`;
    assert.equal(olderFileToken(long), '_x');
  });
});
