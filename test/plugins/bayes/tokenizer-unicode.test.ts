// The tokenizer on text beyond ASCII: punctuation, quotes, dashes and ellipses of every script separate words as
// ASCII's do, and Chinese, Japanese and Korean runs become overlapping character pairs instead of one `skip:` token.
import assert from 'node:assert/strict';
import { tokenize, DEFAULT_TOKENIZER, type TokenCounts } from '../../../plugins/bayes/engine/tokenizer.ts';
import { BayesFilter } from '../../../plugins/bayes/engine/filter.ts';
import { hashA, hashB } from '../../../plugins/bayes/engine/token-hash.ts';

/** A UTF-8 message, as bytes as the gateway reads it, with `body` as its text and a Subject (raw UTF-8 too). */
function mail(body: string, subject = 'hello'): Buffer {
  return Buffer.from(`Subject: ${subject}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${body}\r\n`);
}

/** The body's tokens: those without a prefix (Subject words count as body words too, so the Subject is `hello`). */
function bodyTokens(t: TokenCounts): string[] {
  return [...t.keys()].filter((k) => !/^[a-z]+:/.test(k) && k !== 'hello');
}

const CJK_CHAR = /[\p{scx=Han}\p{scx=Hiragana}\p{scx=Katakana}\p{scx=Hangul}]/u;

/** Tokens that are CJK text without a `~`: each must be exactly two characters, never one and never more. */
function cjkSingles(t: TokenCounts): string[] {
  return bodyTokens(t).filter((k) => !k.includes('~') && CJK_CHAR.test(k) && [...k].length !== 2);
}

describe('bayes tokenizer on Unicode text', () => {
  describe("the walk-through's sentences", () => {
    it('reads a Japanese sentence as overlapping character pairs, not as one skip: token', () => {
      const t = tokenize(mail('請求書をお送りします。ご確認ください。'));
      for (const pair of ['請求', '求書', '書を', 'をお', 'お送', '送り', 'りし', 'しま', 'ます', 'ご確', '確認', '認く', 'くだ', 'ださ', 'さい']) {
        assert.ok(t.has(pair), `${pair} in ${bodyTokens(t).join(' ')}`);
      }
      assert.ok(!bodyTokens(t).some((k) => k.startsWith('skip:')), 'no skip: token');
      // The full stop separates the sentences as ASCII's does, and takes part in pairs as ASCII's does.
      assert.ok(t.has('ます~。') && t.has('。~ご確'));
      assert.ok(!t.has('すご'), 'no pair across the full stop');
      assert.deepEqual(cjkSingles(t), []);
    });

    it('reads a Chinese sentence, punctuation included, as pairs split at its punctuation', () => {
      const t = tokenize(mail('您好，我们公司提供最优惠的价格！请立即联系我们。'));
      for (const pair of ['您好', '我们', '们公', '公司', '优惠', '价格', '立即', '联系']) assert.ok(t.has(pair), pair);
      assert.ok(t.has('您好~，') && t.has('，~我们') && t.has('价格~！'));
      for (const k of bodyTokens(t)) {
        if (!k.includes('~')) assert.ok(!/[，！。]/.test(k), `punctuation stuck in ${k}`);
      }
      assert.equal(t.get('我们'), 2, 'a pair seen twice is counted twice');
      assert.deepEqual(cjkSingles(t), []);
    });

    it('separates curly quotes from the words they enclose', () => {
      const t = tokenize(mail('Get “free money” now, ‘really’ «gratuit»'));
      for (const w of ['free', 'money', 'really', 'gratuit']) assert.ok(t.has(w), w);
      assert.ok(t.has('get~free') && t.has('free~money') && t.has('money~now'));
      assert.ok(!bodyTokens(t).some((k) => /[“”‘’«»]/.test(k)), bodyTokens(t).join(' '));
    });

    it('separates an ellipsis from the word before it, and pairs it as ASCII dots are paired', () => {
      const t = tokenize(mail('wait for it… please'));
      assert.ok(t.has('it') && t.has('please'));
      assert.ok(t.has('it~…') && t.has('…~please'));
      assert.ok(!t.has('it…'));
    });

    it('separates the Arabic comma and question mark from the words', () => {
      const t = tokenize(mail('مرحبا، كيف حالك؟'));
      assert.ok(t.has('مرحبا') && t.has('كيف') && t.has('حالك'));
      assert.ok(t.has('مرحبا~،') && t.has('،~كيف') && t.has('حالك~؟'));
      assert.ok(!t.has('مرحبا،') && !t.has('حالك؟'));
    });

    it('separates dashes and bullets beyond ASCII as it does the ASCII hyphen between words', () => {
      const t = tokenize(mail('offer—today • limited – now'));
      for (const w of ['offer', 'today', 'limited', 'now']) assert.ok(t.has(w), w);
      assert.ok(t.has('offer~—') && t.has('—~today') && t.has('today~•'));
      assert.ok(!t.has('offer—today'));
    });
  });

  describe('CJK runs', () => {
    it('makes a lone CJK character between other words part of pairs, never a token alone', () => {
      const t = tokenize(mail('price 5000 円 only 的 ok'));
      assert.ok(!t.has('円') && !t.has('的'));
      assert.ok(t.has('5000~円') && t.has('円~only') && t.has('only~的') && t.has('的~ok'));
    });

    it('pairs a run with the words on either side, and breaks it where Latin letters start', () => {
      const t = tokenize(mail('iPhone手机特价 now'));
      assert.ok(t.has('iphone') && t.has('手机') && t.has('机特') && t.has('特价'));
      assert.ok(t.has('iphone~手机') && t.has('特价~now'));
      assert.ok(!t.has('手机~机特'), 'pairs inside a run overlap already and are not paired again');
    });

    it('reads Hangul and half-width katakana the same way', () => {
      const t = tokenize(mail('무료광고 ｶﾀｶﾅ'));
      assert.ok(t.has('무료') && t.has('료광') && t.has('광고'));
      assert.ok(t.has('ｶﾀ') && t.has('ﾀｶ') && t.has('ｶﾅ'));
    });

    it('gives Subject pairs the s: prefix as Subject words have', () => {
      const t = tokenize(mail('body', '無料登録'));
      assert.ok(t.has('s:無料') && t.has('s:料登') && t.has('s:登録'));
      assert.ok(t.has('無料'), 'Subject words count as body words too');
    });

    it('makes pairs of CJK characters outside the BMP, and leaves no half of a surrogate pair in a token', () => {
      const t = tokenize(mail('𠀀𠀁𠀂 and a lone \ud800 half'));
      assert.ok(t.has('𠀀𠀁') && t.has('𠀁𠀂'));
      for (const k of t.keys()) assert.ok(k.isWellFormed(), `ill-formed token ${JSON.stringify(k)}`);
    });

    it('reads CJK pairs with bigrams off, without pairing them with words', () => {
      const t = tokenize(mail('特价 now 無料'), { ...DEFAULT_TOKENIZER, bigrams: false });
      assert.ok(t.has('特价') && t.has('無料') && t.has('now'));
      assert.ok(![...t.keys()].some((k) => k.includes('~')));
    });

    it('reads ISO-2022-JP mail, as Japanese mail is often sent, into pairs', () => {
      // 無料 in ISO-2022-JP: ESC $ B, then the JIS X 0208 codes of 無 (4C35) and 料 (4E41), then ESC ( B.
      const body = Buffer.from('\x1b$BL5NA\x1b(B', 'latin1');
      const raw = Buffer.concat([Buffer.from('Subject: x\r\nContent-Type: text/plain; charset=iso-2022-jp\r\n\r\n'), body, Buffer.from('\r\n')]);
      assert.ok(tokenize(raw).has('無料'));
    });
  });

  describe('what stays as it was', () => {
    it('still makes a skip: token of a long run of letters that is not CJK', () => {
      assert.ok(tokenize(mail('a'.repeat(45))).has('skip:a:4'));
      assert.ok(tokenize(mail('é'.repeat(45))).has('skip:é:4'));
      // Counted in characters: 20 mathematical bold letters (40 UTF-16 units) are a word, not a skip.
      assert.ok(tokenize(mail('𝐅'.repeat(20))).has('𝐅'.repeat(20)));
    });

    it('makes no skip: token of a long CJK run', () => {
      const t = tokenize(mail('無料で今すぐ登録してください特別なキャンペーンは本日限りです今すぐ登録してください'));
      assert.ok(!bodyTokens(t).some((k) => k.startsWith('skip:')));
      assert.ok(t.has('本日') && t.has('限り'));
    });

    it('keeps accented letters and combining marks inside words', () => {
      const t = tokenize(mail('café naïve cafe\u0301 नमस्ते'));
      for (const w of ['café', 'naïve', 'cafe\u0301', 'नमस्ते']) assert.ok(t.has(w), w);
    });

    it('reads the typographic apostrophe as the ASCII one', () => {
      const t = tokenize(mail('don’t miss it’s end'));
      assert.ok(t.has("don't") && t.has("it's") && t.has("don't~miss"));
    });
  });

  describe('the per-message cap', () => {
    it('holds no more distinct tokens than the cap, however long the CJK text', () => {
      let text = '';
      for (let c = 0x4e00; c < 0x4e00 + 20_000; c++) text += String.fromCharCode(c);
      const t = tokenize(mail(text));
      assert.equal(t.size, DEFAULT_TOKENIZER.maxTokens);
      assert.deepEqual(cjkSingles(t), []);
    });

    it('reads 512 KB of CJK text in one pass', function () {
      this.timeout(10_000);
      let text = '';
      for (let i = 0; text.length < 180_000; i++) text += String.fromCharCode(0x4e00 + ((i * 7919) % 20_000));
      const raw = mail(text);
      assert.ok(raw.length > 512 * 1024);
      const start = performance.now();
      tokenize(raw);
      // About 50 ms on a loaded 2-core test machine; a scan that went back over the run would take seconds.
      assert.ok(performance.now() - start < 2000);
    });
  });

  it('gives scoring and learning (hashed, without token strings) the tokens tokenize() gives', () => {
    const raw = mail('請求書をお送りします。ご確認ください。 “free” it… 円 ok 𠀀𠀁 🔥 deal', '無料登録 now');
    const want = new Set([...tokenize(raw).keys()].map((k) => `${hashA(k)}:${hashB(k) | 1}`));
    const bag = new BayesFilter().hashedTokens(raw);
    const got = new Set<string>();
    for (let t = 0; t < bag.size; t++) got.add(`${bag.a[t]}:${bag.b[t]}`);
    assert.deepEqual(got, want);
  });
});
