import assert from 'node:assert/strict';
import { Dictionary } from '../../../plugins/bayes/engine/dictionary.ts';
import { fromTab, toTab, MAX_COUNT, type ReadReport } from '../../../plugins/bayes/engine/tab-file.ts';

const report = (): ReadReport => ({ count: 0, first: 0 });
const read = (d: Dictionary) => [...d.entries()].map((e) => [e.token, e.spam, e.ham]);

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
    const tokens = ['plain', 's:subject', 'h:from~example.org', 'naïve', '日本語', '😀~ok', 'a#b'];
    tokens.forEach((t, i) => d.add(t, i + 1, 2 * i));
    const back = fromTab(toTab(d));
    assert.deepEqual([back.nspam, back.nham, back.size], [2, 9, tokens.length]);
    for (const [i, t] of tokens.entries()) assert.deepEqual([back.spamOf(t), back.hamOf(t)], [i + 1, 2 * i], t);
    assert.deepEqual([...back.entries()], [...d.entries()]);
  });

  it('reads odd lines as before: CRLF, a BOM, blank lines, repeated tokens added', () => {
    const text = '\ufeff3\t4\r\nabc\t1\t2\r\n\r\nx\t5\t6\nabc\t3\t4\n';
    const r = report();
    const d = fromTab(Buffer.from(text), r);
    assert.deepEqual([d.nspam, d.nham], [3, 4]);
    assert.deepEqual(read(d), [['abc', 4, 6], ['x', 5, 6]]);
    assert.deepEqual(r, { count: 0, first: 0 }, 'UTF-8, with its BOM dropped: no encoding to report');
    assert.throws(() => fromTab(Buffer.from('\n\n')), /file is empty/);
    assert.throws(() => fromTab(Buffer.from('token\t1\t2\n')), /line 1, the first, must hold the spam and ham message counts.*not "token\\t1\\t2"/);
  });

  it('passes over, and counts, a line whose counts are not whole numbers the dictionary can hold', () => {
    const lines = ['neg\t-3\t2', 'frac\t1.5\t2', 'hex\t0x10\t1', 'big\t5000000000\t1', `over\t${MAX_COUNT + 1}\t1`,
      'plus\t+5\t6', 'space\t 6\t1', 'trail\t1\t2 ', 'exp\t1e3\t1', 'lost\t\t2', 'nonum\tx\t1'];
    const r = report();
    const d = fromTab(Buffer.from(`3\t4\nok\t1\t2\n${lines.join('\n')}\nmax\t${MAX_COUNT}\t0\n`), r);
    assert.deepEqual(read(d), [['ok', 1, 2], ['max', MAX_COUNT, 0]]);
    assert.deepEqual(r, { count: lines.length, first: 3 });
    assert.ok(toTab(d).includes(`max\t${MAX_COUNT}\t0\n`), 'the largest count is written back as it was read');
  });

  it('passes over a line with other than three fields (four when the last is a weight) or an empty token', () => {
    const r = report();
    const d = fromTab(Buffer.from('3\t4\none\t1\ntoomuch\t1\t2\t3\nwith\ttab\t1\t1\nfive\t1\t2\t0.5\t1\n\t1\t2\nweighted\t1\t2\t0.500000\n'), r);
    assert.deepEqual([...d.entries()].map((e) => [e.token, e.spam, e.ham, e.weight]), [['weighted', 1, 2, 0.5]]);
    assert.deepEqual(r, { count: 5, first: 2 });
  });

  it('refuses a first line that does not hold two message counts, naming it', () => {
    for (const first of ['-1\t2', '1.5\t2', '0x10\t1', '5000000000\t1', `${MAX_COUNT + 1}\t0`, '1\t2\t3', '1', ' 1\t2', '1\t']) {
      assert.throws(() => fromTab(Buffer.from(`${first}\nok\t1\t2\n`)), /not a TAB dictionary: line 1, the first, must hold/, first);
    }
    assert.deepEqual([fromTab(Buffer.from(`${MAX_COUNT}\t0\n`)).nspam], [MAX_COUNT]);
  });

  it('reads a file that is not UTF-8 as Windows-1252 and says so, so that café and cafè stay two tokens', () => {
    // One byte a letter: é as 0xE9, è as 0xE8, and 0x80, which Windows-1252 reads as €.
    const latin = Buffer.from('2\t1\ncafé\t1\t0\ncafè\t0\t1\n\x80\t1\t1\nplain\t1\t0\n', 'latin1');
    const r = report();
    const d = fromTab(latin, r);
    assert.deepEqual(read(d), [['café', 1, 0], ['cafè', 0, 1], ['€', 1, 1], ['plain', 1, 0]]);
    assert.deepEqual(r, { count: 0, first: 0, encoding: 'windows-1252' });
    // The same tokens in UTF-8 are the same tokens, and nothing is reported.
    const utf8 = report();
    assert.deepEqual(read(fromTab(Buffer.from('2\t1\ncafé\t1\t0\ncafè\t0\t1\n€\t1\t1\nplain\t1\t0\n'), utf8)), read(d));
    assert.equal(utf8.encoding, undefined);
  });

  it('reads a UTF-16 file by its byte order mark, and says so', () => {
    for (const [encoding, bytes] of [['utf-16le', Buffer.from('\ufeff1\t2\r\ncafé\t1\t2\r\n', 'utf16le')],
      ['utf-16be', Buffer.from('\ufeff1\t2\ncafé\t1\t2\n', 'utf16le').swap16()]] as const) {
      const r = report();
      const d = fromTab(bytes, r);
      assert.deepEqual([d.nspam, d.nham, ...read(d)], [1, 2, ['café', 1, 2]], encoding);
      assert.equal(r.encoding, encoding);
    }
  });

  it('keeps `#` lines for its own: a token starting with `#` is passed over when read and left out when written', () => {
    const d = new Dictionary();
    d.nspam = 1;
    d.nham = 1;
    for (const t of ['#byte-grams', '#other', '', 'ok', 'in#side']) d.add(t, 1, 1);
    const bytes = toTab(d);
    assert.equal(bytes.toString('utf8'), '1\t1\nok\t1\t1\nin#side\t1\t1\n', 'what a reader would pass over is not written');
    const clean = report();
    fromTab(bytes, clean);
    assert.deepEqual(clean, { count: 0, first: 0 });
    // A foreign file's `#` token, or a line of a model this reader does not know, is passed over and counted.
    const r = report();
    assert.deepEqual(read(fromTab(Buffer.from('1\t1\n#hashtag\t1\t1\nok\t1\t1\n#new-model\t1\tAAAA\n'), r)), [['ok', 1, 1]]);
    assert.deepEqual(r, { count: 2, first: 2 });
  });

  it('refuses a file whose byte model line is corrupt, naming the line: without the model every score would change', () => {
    // Also what an import wrote before `#` tokens were passed over: the token `#byte-grams` with its counts.
    assert.throws(() => fromTab(Buffer.from('1\t1\nok\t1\t1\n#byte-grams\t1\t2\n')), /^Error: line 3: the #byte-grams line is malformed/);
  });

  it('holds merged counts within what a file can say, so a merge of two large dictionaries still reads back', () => {
    const big = fromTab(Buffer.from(`${MAX_COUNT - 1}\t1\nhuge\t${MAX_COUNT - 1}\t1\n`));
    big.merge(big.clone());
    assert.deepEqual([big.nspam, big.spamOf('huge'), big.hamOf('huge')], [MAX_COUNT, MAX_COUNT, 2]);
    const back = fromTab(toTab(big));
    assert.deepEqual([back.nspam, back.spamOf('huge')], [MAX_COUNT, MAX_COUNT]);
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
