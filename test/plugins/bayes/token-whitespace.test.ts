// Tokens never hold whitespace: text taken as it comes (a tag's attribute, an attachment's name, a boundary) once
// gave tokens with line breaks, one from LF mail and another from CRLF mail, that a dictionary file wrote alike.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tokenize } from '../../../plugins/bayes/engine/tokenizer.ts';
import { fromTab, type ReadReport } from '../../../plugins/bayes/engine/tab-file.ts';
import { message } from './fixtures.ts';
import { moatBayes } from './moat-cli.ts';

/** An HTML message with an attachment, its lines ended by `eol`. */
function htmlMail(eol: string): string {
  return [
    'From: "Deals" <deals@promo.test>',
    'To: bob@example.com',
    'Subject: fonts and files',
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="two words here"',
    '',
    '--two words here',
    'Content-Type: text/html; charset=utf-8',
    '',
    '<html><body><font face="Arial ',
    'Black" color="#ff0000">Big offer</font>',
    '<font face="Arial',
    '',
    'Narrow Extra Condensed Bold">now</font>',
    '<a href="http://promo.test/x">click</a></body></html>',
    '--two words here',
    'Content-Type: application/pdf; name="price list 2024.pdf"',
    'Content-Disposition: attachment; filename="price list 2024.pdf"',
    'Content-Transfer-Encoding: base64',
    '',
    'JVBERi0xLjQK',
    '--two words here--',
    '',
  ].join(eol);
}

describe('bayes tokens and whitespace', function () {
  this.timeout(30_000);

  it('a message gives the same tokens with CRLF (SMTP) as with LF (Maildir), none of them holding whitespace', () => {
    const lf = [...tokenize(htmlMail('\n')).keys()];
    const crlf = [...tokenize(htmlMail('\r\n')).keys()];
    assert.deepEqual(crlf, lf);
    assert.deepEqual(lf.filter((t) => /\s/.test(t)), []);
    // Each run of whitespace is one `_`, and a value's 20 characters are counted after that, so LF and CRLF cut alike.
    assert.ok(lf.includes('h:font:face=arial_black'), lf.filter((t) => t.startsWith('h:font:face')).join(' '));
    assert.ok(lf.includes('h:font:face=arial_narrow_extra_c'));
    assert.ok(lf.includes('an:price_list_2024.pdf'));
    assert.ok(lf.includes('ct:b=aaa_aaaaa_aaaa'));
  });

  it('create learns the LF and the CRLF copy as one message, and create and stats count the same tokens', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-ws-'));
    try {
      for (const kind of ['spam', 'ham']) fs.mkdirSync(path.join(dir, kind));
      fs.writeFileSync(path.join(dir, 'spam', 'lf.eml'), htmlMail('\n'));
      fs.writeFileSync(path.join(dir, 'spam', 'crlf.eml'), htmlMail('\r\n'));
      for (let i = 0; i < 3; i++) fs.writeFileSync(path.join(dir, 'ham', `h${i}.eml`), message({ spam: false, seed: i }));
      const dict = path.join(dir, 'dict.tab');
      const created = moatBayes('create', dict, path.join(dir, 'spam'), path.join(dir, 'ham'), '--json', '--no-reinforce');
      assert.equal(created.code, 0, created.err);
      const c = JSON.parse(created.out);
      assert.deepEqual([c.learned.spam, c.duplicates.spam], [1, 1], 'the second copy has the first one\'s tokens');
      const stats = JSON.parse(moatBayes('stats', dict, '--json').out);
      assert.equal(stats.tokens, c.tokens);
      assert.equal(stats.malformed.count, 0);
      assert.ok(/^h:font:face=arial_black\t1\t0\t/m.test(fs.readFileSync(dict, 'utf8')), 'one line, learned once');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a file listing a token twice adds its counts and averages its weight by the lines\' messages, in any order', () => {
    const lines = ['h:font:face=arial _black\t3\t1\t0.400000', 'h:font:face=arial _black\t1\t0\t-0.200000', 'h:font:face=arial _black\t0\t1'];
    const weights = new Set<number>();
    for (const order of [[0, 1, 2], [2, 1, 0], [1, 2, 0]]) {
      const report: ReadReport = { count: 0, first: 0 };
      const d = fromTab(Buffer.from(['10\t10', ...order.map((k) => lines[k]), 'other\t1\t1', ''].join('\n')), report);
      const [e] = [...d.entries()].filter((x) => x.token.startsWith('h:'));
      assert.deepEqual([d.size, e.spam, e.ham, report.count], [2, 4, 2, 0]);
      weights.add(e.weight);
    }
    // (0.4 × 4 + (−0.2) × 1 + 0 × 1) / 6
    assert.deepEqual([...weights], [0.233333]);
  });
});
