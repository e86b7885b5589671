// The bayes engine: MIME reading, tokens, Robinson/Fisher scoring and its modes, MailEnable formats, pruning.
import assert from 'node:assert/strict';
import { parseMail, decodeWords } from '../../../plugins/bayes/engine/mime.ts';
import { tokenize, registeredDomain } from '../../../plugins/bayes/engine/tokenizer.ts';
import { Dictionary } from '../../../plugins/bayes/engine/dictionary.ts';
import { classify, logChi2Q, tokenProbability, DEFAULT_SCORING } from '../../../plugins/bayes/engine/classify.ts';
import { BayesFilter } from '../../../plugins/bayes/engine/filter.ts';
import { deserialize, fromTab, fromXml, toTab, toXml, type ReadReport } from '../../../plugins/bayes/engine/formats.ts';
import { prune } from '../../../plugins/bayes/engine/prune.ts';
import { message, trainedFilter } from './fixtures.ts';
import { LayeredCounts } from '../../../plugins/bayes/engine/layered-counts.ts';

const MULTIPART = [
  'From: =?utf-8?B?SsO8cmdlbg==?= <j@sender.test>',
  'Subject: =?iso-8859-1?Q?Gr=FC=DFe?= again',
  'Received: from mail.sender.test (mail.sender.test [198.51.100.7]) by mx.example.com',
  'X-Spam-Status: Yes, score=99',
  'Content-Type: multipart/mixed; boundary="XX"',
  '',
  '--XX',
  'Content-Type: text/html; charset=utf-8',
  'Content-Transfer-Encoding: quoted-printable',
  '',
  '<html><body><font color=3D"red">Caf=C3=A9 <a href=3D"http://www.shop.example.co.uk/x">deal</a></font></body></html>',
  '--XX',
  'Content-Type: application/octet-stream; name="invoice.exe"',
  'Content-Transfer-Encoding: base64',
  '',
  Buffer.from('MZ binary').toString('base64'),
  '--XX--',
  '',
].join('\r\n');

describe('bayes engine', () => {
  describe('MIME reader', () => {
    it('decodes encoded words, quoted-printable HTML in its charset, and lists attachments', () => {
      const m = parseMail(Buffer.from(MULTIPART, 'latin1'));
      assert.equal(m.headers.find((h) => h.name === 'subject')?.value, 'Grüße again');
      assert.match(m.headers.find((h) => h.name === 'from')?.value ?? '', /^Jürgen/);
      assert.match(m.html, /Café/);
      assert.deepEqual(m.attachments, [{ filename: 'invoice.exe', contentType: 'application/octet-stream' }]);
      assert.equal(decodeWords('=?utf-8?Q?a_b?= =?utf-8?Q?c?='), 'a bc');
    });

    it('ends the header section at the first line that is not a field (preprocessed corpora)', () => {
      const m = parseMail('Subject: cheap meds\nbuy now friend\n');
      assert.equal(m.headers.length, 1);
      assert.match(m.text, /buy now friend/);
    });

    it('reads no field out of an mbox "From " line, whose time has colons', () => {
      const m = parseMail('From spammer@x.example  Mon Sep  2 12:34:56 2002\nSubject: hi\nX-Mailer: Foo 1.0\n\nbody\n');
      assert.deepEqual(m.headers.map((h) => h.name), ['subject', 'x-mailer']);
      assert.ok(![...tokenize('From a@x.example  Mon Sep  2 12:34:56 2002\nSubject: hi\n\nbody\n').keys()].some((k) => k.startsWith('hn:')));
    });

    it('reads 8-bit text that is not UTF-8 as Windows-1252, with no charset or a false UTF-8 one', () => {
      assert.equal(parseMail('Subject: caf\xe9 cr\xe8me\n\nna\xefve \x93quotes\x94\n').headers[0].value, 'café crème');
      assert.match(parseMail('Subject: x\n\nna\xefve \x93quotes\x94\n').text, /naïve “quotes”/);
      assert.match(parseMail('Content-Type: text/plain; charset=utf-8\n\ncaf\xe9\n').text, /café/);
      // Real UTF-8, and a U+FFFD the sender wrote, stay as they are.
      assert.match(parseMail(Buffer.from('Subject: x\n\ncafé \ufffd\n')).text, /café \ufffd/);
      assert.ok(tokenize('Subject: x\n\ncaf\xe9 au lait\n').has('café'));
    });

    it('reads 7-bit ISO-2022-JP and UTF-16 text in their charsets, though no byte of it is 8-bit', () => {
      assert.equal(parseMail('Content-Type: text/plain; charset=iso-2022-jp\n\n\x1b$B$3$s$K$A$O\x1b(B\n').text, 'こんにちは\n');
      const utf16 = Buffer.from('hi there', 'utf16le').toString('base64');
      assert.equal(parseMail(`Content-Type: text/plain; charset=utf-16le\nContent-Transfer-Encoding: base64\n\n${utf16}\n`).text, 'hi there');
    });

    it('reads the subject of a forwarded message as text, and its body', () => {
      const m = parseMail('Subject: Fwd\nContent-Type: message/rfc822\n\nSubject: =?utf-8?Q?cheap_r=C3=A9plica?= watches\nFrom: x@y.example\n\ninner body\n');
      assert.match(m.text, /cheap réplica watches/);
      assert.match(m.text, /inner body/);
      assert.ok(!m.headers.some((h) => h.value.includes('cheap')), 'the outer headers stay the outer ones');
    });

    it('reads attachment names split or encoded as RFC 2231 allows', () => {
      const names = (disposition: string) => parseMail(`Subject: x\nContent-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: application/pdf\nContent-Disposition: attachment;\n ${disposition}\n\nxx\n--B--\n`).attachments.map((a) => a.filename);
      assert.deepEqual(names(`filename*=utf-8''caf%C3%A9.pdf`), ['café.pdf']);
      assert.deepEqual(names(`filename*0*=iso-8859-1''r%E9sum; filename*1=".pdf"`), ['résum.pdf']);
      assert.deepEqual(names(`filename*0="inv"; filename*1="oice.exe"`), ['invoice.exe']);
      assert.deepEqual(names(`filename="plain.doc"; filename*="utf-8''other.doc"`), ['other.doc']);
      assert.deepEqual(names(`filename="only.doc"`), ['only.doc']);
    });
  });

  describe('tokenizer', () => {
    it('prefixes tokens by where they came from and never reads X-Spam-* headers', () => {
      const t = tokenize(Buffer.from(MULTIPART, 'latin1'));
      for (const tok of ['s:grüße', 'f:@sender.test', 'rcv:sender.test', 'rcv:ip:198.51.100', 'u:www.shop.example.co.uk', 'ud:example.co.uk', 'an:invoice.exe', 'an:ext=exe', 'at:application/octet-stream', 'café', 'h:font:color=red', 'm:html-only']) {
        assert.ok(t.has(tok), `has ${tok}`);
      }
      assert.ok(![...t.keys()].some((k) => k.includes('x-spam') || k === 'yes'), 'nothing from X-Spam-Status');
    });

    it('leaves HTML tags out when process_html is off, and pairs words when bigrams are on', () => {
      const off = tokenize(Buffer.from(MULTIPART, 'latin1'), { ...new BayesFilter().tokenizer, processHtml: false });
      assert.ok(![...off.keys()].some((k) => k.startsWith('h:')));
      const t = tokenize('Subject: x\n\ncheap pills today');
      assert.ok(t.has('cheap~pills') && t.has('pills~today'));
    });

    it('marks a message with no subject, text, HTML or attachment as empty, and only such a one', () => {
      assert.ok(tokenize('Subject: \n\n \n').has('m:empty'));
      assert.ok(tokenize('From: a@b.example\n\n').has('m:empty'));
      assert.ok(!tokenize('Subject: hello\n\n').has('m:empty'));
      assert.ok(!tokenize('Subject:\n\nhi\n').has('m:empty'));
      assert.ok(!tokenize(Buffer.from(MULTIPART, 'latin1')).has('m:empty'));
    });

    it('caps the distinct tokens of one message', () => {
      const body = Array.from({ length: 5000 }, (_v, i) => `w${i}x`).join(' ');
      const t = tokenize(`Subject: big\n\n${body}`, { ...new BayesFilter().tokenizer, maxTokens: 100 });
      assert.equal(t.size, 100);
    });

    it('leaves at least half of the cap to the body, however many header fields or Subject words come first', () => {
      const junkHeaders = Array.from({ length: 5000 }, (_v, i) => `X-Junk-${i}: y`).join('\n');
      const longSubject = Array.from({ length: 5000 }, (_v, i) => `s${i}x`).join(' ');
      for (const head of [junkHeaders, `Subject: ${longSubject}`]) {
        const t = tokenize(`${head}\n\ncheap replica watches shipped today\n`);
        for (const tok of ['cheap', 'replica~watches', 'today']) assert.ok(t.has(tok), `has ${tok}`);
        assert.ok(t.size <= 3000);
      }
    });

    it('reduces hosts to their registered domain', () => {
      assert.equal(registeredDomain('a.b.example.com'), 'example.com');
      assert.equal(registeredDomain('mail.example.co.uk'), 'example.co.uk');
      // By the public-suffix list, not a guess from the last two labels.
      assert.equal(registeredDomain('www.justice.gc.ca'), 'justice.gc.ca');
      assert.equal(registeredDomain('munnari.oz.au'), 'munnari.oz.au');
      assert.equal(registeredDomain('host.internal'), 'host.internal');
    });
  });

  describe('scoring', () => {
    const filter = trainedFilter();

    it('gives spam a high and ham a low probability', () => {
      assert.ok(filter.score(message({ spam: true, seed: 99 })).probability > 0.99);
      assert.ok(filter.score(message({ spam: false, seed: 99 })).probability < 0.01);
    });

    it('learns a message streamed token by token exactly as from its token set', () => {
      const a = new BayesFilter();
      const b = new Dictionary();
      for (let i = 0; i < 5; i++) {
        const raw = message({ spam: i % 2 === 0, seed: i });
        a.learn(raw, i % 2 === 0);
        b.learn(a.tokens(raw).keys(), i % 2 === 0);
      }
      assert.deepEqual([...a.dict.entries()], [...b.entries()]);
      assert.deepEqual([a.dict.nspam, a.dict.nham], [b.nspam, b.nham]);
      // Pairs learned from word hashes are found again by their strings.
      const pairs = [...a.dict.entries()].filter((e) => e.token.includes('~'));
      assert.ok(pairs.length > 10);
      for (const e of pairs) assert.deepEqual([a.dict.spamOf(e.token), a.dict.hamOf(e.token)], [e.spam, e.ham], e.token);
    });

    it('learns a bag that makes the table grow partway exactly as from its token set', () => {
      // The table doubles while the second message's new words go in; the known words after them must still be found.
      const words = (from: number, to: number) => Array.from({ length: to - from }, (_x, i) => `zq${from + i}`);
      const raw = (body: string[]) => `Subject: words\r\nFrom: a@b.test\r\n\r\n${body.join(' ')}\r\n`;
      const messages = [raw(words(0, 400)), raw([...words(400, 1600), ...words(0, 400)]), raw(words(300, 2500))];
      const a = new BayesFilter(undefined, { bigrams: false });
      const b = new Dictionary();
      messages.forEach((m, i) => {
        a.learn(m, i !== 1);
        b.learn(a.tokens(m).keys(), i !== 1);
      });
      assert.ok(a.dict.size > 2500);
      assert.deepEqual([...a.dict.entries()], [...b.entries()]);
      assert.deepEqual([a.dict.spamOf('zq0'), a.dict.hamOf('zq0'), a.dict.spamOf('zq350'), a.dict.hamOf('zq350')], [1, 1, 2, 1]);
    });

    it('keeps the count of every token learned, the ones that made the table grow too', () => {
      // A token that grew the table was counted in the table it replaced (one count lost per doubling).
      const d = new Dictionary();
      for (let i = 0; i < 20_000; i++) d.learn([`w${i}`, 'common'], i % 2 === 0);
      const zero = [...Array(20_000).keys()].filter((i) => d.spamOf(`w${i}`) + d.hamOf(`w${i}`) !== 1);
      assert.deepEqual(zero, []);
      assert.deepEqual([d.spamOf('common'), d.hamOf('common'), d.nspam, d.nham], [10_000, 10_000, 10_000, 10_000]);
    });

    it('scores by token hashes exactly as by token strings: one dictionary or layers, every mode, with the token cap', () => {
      const delta = new BayesFilter();
      const mixed = (i: number) => `${message({ spam: i % 2 === 0, seed: i })}\r\n${message({ spam: i % 2 === 1, seed: i + 1 })}`;
      for (let i = 0; i < 12; i++) delta.learn(mixed(i), i % 3 === 0);
      const layered = new LayeredCounts([filter.dict, delta.dict]);
      const samples = [MULTIPART, ...Array.from({ length: 30 }, (_x, i) => mixed(50 + i))];
      let unsure = 0;
      for (const maxTokens of [3000, 12]) {
        for (const mode of ['all', 'frequent', 'extreme'] as const) {
          const f = new BayesFilter(filter.dict, { maxTokens }, { mode, maxTokens: 5 });
          for (const raw of samples) {
            for (const counts of [filter.dict, layered]) {
              const { probability, used, logHam, logSpam } = f.score(raw, counts);
              const slow = classify(f.tokens(raw), counts, f.scoring);
              assert.deepEqual({ probability, used, logHam, logSpam }, { probability: slow.probability, used: slow.used, logHam: slow.logHam, logSpam: slow.logSpam });
              if (probability > 0.01 && probability < 0.99) unsure++;
            }
          }
        }
      }
      assert.ok(unsure > 20, `${unsure} scores away from 0 and 1, so the comparison is not between saturated values`);
    });

    it('returns 0.5 when no token is known', () => {
      const s = filter.score('Subject: zzqx\n\nqqqz wwwx');
      assert.equal(s.used, 0);
      assert.equal(s.probability, 0.5);
    });

    it('excludes tokens inside the neutral band', () => {
      const d = new Dictionary();
      d.nspam = 10; d.nham = 10;
      d.add('even', 5, 5);
      d.add('spammy', 9, 0);
      const s = classify(new Map([['even', 1], ['spammy', 1]]), d, DEFAULT_SCORING, true);
      assert.equal(s.used, 1);
      assert.equal(s.top[0][0], 'spammy');
      assert.ok(s.probability > 0.6 && s.probability < 0.7, 'one strong token out of min_tokens 3 counts a third');
      assert.ok(classify(new Map([['spammy', 1]]), d, { ...DEFAULT_SCORING, minTokens: 0 }).probability > 0.9);
    });

    it('orders word salad, where Fisher\'s indicator says 0.5 either way, by the tokens\' log-odds', () => {
      const d = new Dictionary();
      d.nspam = 1000; d.nham = 1000;
      const salad = (hamCounts: number) => {
        const tokens = new Map<string, number>();
        for (let i = 0; i < 20; i++) {
          d.add(`spam${i}`, 990, 10); tokens.set(`spam${i}`, 1);
          d.add(`ham${hamCounts}-${i}`, 1000 - hamCounts, hamCounts); tokens.set(`ham${hamCounts}-${i}`, 1);
        }
        return tokens;
      };
      const even = salad(990);     // twenty tokens at 0.99 against twenty at 0.01
      const leaning = salad(950);  // the same spam tokens against twenty at 0.05
      const fisher = { ...DEFAULT_SCORING, oddsWeight: 0 };
      for (const tokens of [even, leaning]) assert.ok(Math.abs(classify(tokens, d, fisher).probability - 0.5) < 0.002, 'both tails near 1: Fisher says 0.5');
      assert.ok(Math.abs(classify(even, d).probability - 0.5) < 0.001);
      const p = classify(leaning, d).probability;
      assert.ok(p > 0.55 && p < 0.6, `the spam tokens are the stronger: ${p}`);
    });

    it('limits the tokens combined in the extreme and frequent modes', () => {
      const raw = message({ spam: true, seed: 5 });
      const all = filter.score(raw);
      filter.scoring = { ...DEFAULT_SCORING, mode: 'extreme', maxTokens: 3 };
      assert.equal(filter.score(raw).used, 3);
      filter.scoring = { ...DEFAULT_SCORING, mode: 'frequent', maxTokens: 3 };
      const freq = filter.score(raw);
      assert.ok(freq.used >= 3 && freq.used <= 12, 'frequent weighs the 3 most frequent tokens by their counts');
      assert.ok(freq.probability > 0.9);
      filter.scoring = DEFAULT_SCORING;
      assert.ok(all.used > 3);
    });

    it('computes chi-square tails in log space without underflow', () => {
      assert.ok(Math.abs(Math.exp(logChi2Q(2, 2)) - Math.exp(-1)) < 1e-12);
      assert.ok(logChi2Q(5000, 20) < -2000, 'a tail far below the smallest double stays finite');
      // References computed with 80-digit decimal arithmetic.
      for (const [x, v, ref] of [[1754.0752136774017, 600, -259.6352412535731], [448.12699283959785, 348, -8.39260524154477], [31.577101127475633, 140, -1.1413470192162065e-23]]) {
        assert.ok(Math.abs(logChi2Q(x, v) - ref) <= 1e-12 * Math.max(1, Math.abs(ref)), `ln Q(${x} | ${v})`);
      }
      assert.equal(tokenProbability(0, 0, 10, 10, DEFAULT_SCORING), DEFAULT_SCORING.robx);
    });
  });

  describe('MailEnable formats', () => {
    const d = new Dictionary();
    d.nspam = 3; d.nham = 4;
    d.add('free', 3, 1);
    d.add('a<b&"c"', 1, 0);
    d.add('meeting', 0, 4);

    it('round-trips TAB and XML', () => {
      for (const back of [fromTab(toTab(d)), fromXml(toXml(d))]) {
        assert.deepEqual([back.nspam, back.nham], [3, 4]);
        assert.deepEqual([...back.entries()], [...d.entries()]);
      }
      assert.equal(toTab(d).toString().split('\n')[0], '3\t4');
    });

    it('reads a MailEnable XML dictionary (W = ham, B = spam)', () => {
      const x = fromXml('<ELEMENTS>\n<ENTRIES W="20" B="10">\n<E W="1" B="7">viagra</E>\n<E W="9" B="0">agenda</E>\n</ENTRIES>\n</ELEMENTS>');
      assert.deepEqual([x.nspam, x.nham, x.spamOf('viagra'), x.hamOf('viagra'), x.hamOf('agenda')], [10, 20, 7, 1, 9]);
    });

    it('passes over XML entries without whole-number counts or a closing tag, counting them; a missing count is 0', () => {
      const malformed = { count: 0, first: 0 };
      const x = fromXml('<ENTRIES W="2" B="3"><E W="1" B="2">ok</E><E W="x" B="2">bad</E><E W="1">nob</E><E B="1" W="1">open<E W=4 B=\'5\'>bare</E></ENTRIES>', malformed);
      assert.deepEqual([...x.entries()].map((e) => [e.token, e.spam, e.ham]), [['ok', 2, 1], ['nob', 0, 1], ['bare', 5, 4]]);
      assert.deepEqual(malformed, { count: 2, first: 2 });
    });

    it('refuses a file that is not a dictionary', () => {
      assert.throws(() => fromTab('hello world\n'), /not a TAB dictionary/);
      assert.throws(() => fromXml('<x/>'), /not an XML dictionary/);
    });

    const xml = (entries: string, counts = 'W="2" B="3"') => `<ELEMENTS><ENTRIES ${counts}>${entries}</ENTRIES></ELEMENTS>`;
    const tokensOf = (d: Dictionary) => [...d.entries()].map((e) => [e.token, e.spam, e.ham]);

    it('passes over an XML entry whose reference names no Unicode character, or whose counts do not fit', () => {
      const r: ReadReport = { count: 0, first: 0 };
      const x = fromXml(xml('<E W="1" B="1">ok&#xE9;&#233;&#x1F600;</E><E W="1" B="1">&#x110000;</E><E W="1" B="1">a&#xD800;</E>'
        + '<E W="1" B="1">&#99999999999999999999;</E><E W="5000000000" B="1">big</E><E W="-1" B="1">neg</E><E W="1.5" B="1">frac</E>'
        + '<E W="0x10" B="1">hex</E><E W="2147483647" B="0">max</E>'), r);
      assert.deepEqual(tokensOf(x), [['okéé😀', 1, 1], ['max', 0, 2147483647]]);
      assert.deepEqual(r, { count: 7, first: 2 });
      assert.throws(() => fromXml(xml('', 'W="5000000000" B="1"')), /not an XML dictionary: its <ENTRIES> must hold the message counts/);
      assert.throws(() => fromXml(xml('', 'W="x" B="1"')), /<ENTRIES> must hold/);
    });

    it('passes over an XML entry whose token is empty or starts with `#`, so that what it imports always reads back', () => {
      const r: ReadReport = { count: 0, first: 0 };
      const x = fromXml(xml('<E W="1" B="1">ok</E><E W="1" B="1">#byte-grams</E><E W="1" B="1"></E><E W="1" B="1">&#35;other</E><E W="1" B="2">in#side</E>'), r);
      assert.deepEqual(tokensOf(x), [['ok', 1, 1], ['in#side', 2, 1]]);
      assert.deepEqual(r, { count: 3, first: 2 });
      const back: ReadReport = { count: 0, first: 0 };
      assert.deepEqual(tokensOf(fromTab(toTab(x), back)), tokensOf(x));
      assert.deepEqual(back, { count: 0, first: 0 });
    });

    it('reads XML bytes in the encoding the file declares or its byte order mark names, and says which when not UTF-8', () => {
      // One byte a letter, é as 0xE9 and è as 0xE8: neither is valid UTF-8.
      const latin = (declaration: string) => Buffer.from(`${declaration}${xml('<E W="1" B="0">café</E><E W="0" B="1">cafè</E>')}`, 'latin1');
      for (const [declaration, encoding] of [
        ['<?xml version="1.0" encoding="ISO-8859-1"?>', 'windows-1252'],
        ["<?xml version='1.0' encoding='windows-1252'?>\n", 'windows-1252'],
        ['<?xml version="1.0" encoding="UTF-8"?>', 'windows-1252'], // not UTF-8 whatever it says
        ['', 'windows-1252'],
      ]) {
        const r: ReadReport = { count: 0, first: 0 };
        assert.deepEqual(tokensOf(deserialize(latin(declaration), 'xml', r)), [['café', 0, 1], ['cafè', 1, 0]], declaration);
        assert.equal(r.encoding, encoding, declaration);
      }
      const text = `<?xml version="1.0" encoding="UTF-16"?>\n${xml('<E W="1" B="0">café</E><E W="0" B="1">€😀</E>')}`;
      const utf16le = Buffer.from(`\ufeff${text}`, 'utf16le');
      for (const [bytes, encoding] of [[utf16le, 'utf-16le'], [Buffer.from(utf16le).swap16(), 'utf-16be'], [utf16le.subarray(2), 'utf-16le'],
        [Buffer.from(`\ufeff${text}`), undefined], [Buffer.from(text.replace('UTF-16', 'utf-8')), undefined]] as const) {
        const r: ReadReport = { count: 0, first: 0 };
        assert.deepEqual(tokensOf(fromXml(bytes, r)), [['café', 0, 1], ['€😀', 1, 0]], encoding);
        assert.equal(r.encoding, encoding);
      }
      assert.throws(() => fromXml(Buffer.from(`<?xml version="1.0" encoding="x-klingon"?>${xml('')}`)), /declaration names the encoding "x-klingon", which is unknown/);
    });
  });

  it('prunes rare and neutral tokens', () => {
    const d = new Dictionary();
    d.nspam = 100; d.nham = 100;
    d.add('rare', 1, 0);
    d.add('neutral', 20, 20);
    d.add('strong', 30, 1);
    const r = prune(d, { minCount: 2, neutral: 0.1 });
    assert.deepEqual([r.before, r.after], [3, 1]);
    assert.equal(d.spamOf('strong'), 30);
  });
});
