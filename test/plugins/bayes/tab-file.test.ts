import assert from 'node:assert/strict';
import { Dictionary } from '../../../plugins/bayes/engine/dictionary.ts';
import { fromTab, toTab } from '../../../plugins/bayes/engine/tab-file.ts';

describe('bayes TAB file (bytes)', () => {
  it('writes tokens as UTF-8 in the order first learned, skips tokens with no counts, and makes whitespace safe', () => {
    const d = new Dictionary();
    d.nspam = 12;
    d.nham = 3;
    d.add('free', 5, 0);
    d.add('gone', 0, 0);
    d.add('café', 1, 2);
    d.add('€😀', 7, 1);
    d.add('lone\ud800', 1, 1);
    d.add('two\t\r\nparts\tx', 2, 0);
    d.add('big', 1234567890, 98765);
    assert.equal(toTab(d).toString('utf8'),
      '12\t3\nfree\t5\t0\ncafé\t1\t2\n€😀\t7\t1\nlone\ufffd\t1\t1\ntwo_parts_x\t2\t0\nbig\t1234567890\t98765\n');
  });

  it('reads back what it wrote: every token, ASCII or not, found by the same hashes as when it was learned', () => {
    const d = new Dictionary();
    d.nspam = 2;
    d.nham = 9;
    const tokens = ['plain', 's:subject', 'h:from~example.org', 'naïve', '日本語', '😀~ok', ''];
    tokens.forEach((t, i) => d.add(t, i + 1, 2 * i));
    const back = fromTab(toTab(d));
    assert.deepEqual([back.nspam, back.nham, back.size], [2, 9, tokens.length]);
    for (const [i, t] of tokens.entries()) assert.deepEqual([back.spamOf(t), back.hamOf(t)], [i + 1, 2 * i], t);
    assert.deepEqual([...back.entries()], [...d.entries()]);
  });

  it('reads odd lines as before: CRLF, a BOM, blank lines, repeated tokens added, lines without counts skipped', () => {
    const text = '\ufeff3\t4\r\nabc\t1\t2\r\n\r\nx\t+5\t 6\nnonum\tx\t1\n\t1\t2\nabc\t3\t4\none\t1\nneg\t-3\t2\nwith\ttab\t1\t1\n';
    const d = fromTab(Buffer.from(text));
    assert.deepEqual([d.nspam, d.nham], [3, 4]);
    assert.deepEqual([...d.entries()].map((e) => [e.token, e.spam, e.ham]), [
      ['abc', 4, 6], // listed twice: added
      ['x', 5, 6], // counts as Number() reads them
      ['', 1, 2], // an empty token is still a token
      ['neg', 0, 2], // counts never go below zero
      ['with\ttab', 1, 1], // the token is what comes before the last two tabs
    ]);
    assert.throws(() => fromTab(Buffer.from('\n\n')), /file is empty/);
    assert.throws(() => fromTab(Buffer.from('token\t1\t2\n')), /first line must hold/);
  });

  it('counts the lines it passes over, and names the first', () => {
    const malformed = { count: 0, first: 0 };
    const d = fromTab(Buffer.from('3\t4\nok\t1\t2\nnonum\tx\t1\none\t1\n\nlost\t\t2\nalso\t2\t1\n'), malformed);
    assert.deepEqual([...d.entries()].map((e) => e.token), ['ok', 'also']);
    assert.deepEqual(malformed, { count: 3, first: 3 }, 'a count that is no number, a line with one tab, an empty count; not the blank line');
    const clean = { count: 0, first: 0 };
    fromTab(toTab(d), clean);
    assert.deepEqual(clean, { count: 0, first: 0 });
  });

  it('a file of 50,000 tokens round-trips byte for byte', () => {
    const d = new Dictionary();
    d.nspam = 100_000;
    d.nham = 90_000;
    for (let i = 0; i < 50_000; i++) d.add(`tok${i.toString(36)}${i % 7 === 0 ? 'é' : ''}`, i % 13, i % 5);
    const bytes = toTab(d);
    const back = fromTab(bytes);
    assert.equal(back.size, [...d.entries()].length);
    assert.ok(toTab(back).equals(bytes));
  });
});
