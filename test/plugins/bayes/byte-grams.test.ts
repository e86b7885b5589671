// The byte model: what of a message it reads, its pass, its term in the score, and its line in TAB files.
import assert from 'node:assert/strict';
import { BayesFilter } from '../../../plugins/bayes/engine/filter.ts';
import { Dictionary, stateBuffers } from '../../../plugins/bayes/engine/dictionary.ts';
import { ByteGramModel, PREFIX_BYTES, messagePrefix } from '../../../plugins/bayes/engine/byte-grams.ts';
import { clampProbability } from '../../../plugins/bayes/engine/classify.ts';
import { DEFAULT_TOKENIZER } from '../../../plugins/bayes/engine/tokenizer.ts';
import { LayeredCounts } from '../../../plugins/bayes/engine/layered-counts.ts';
import { fromTab, toTab } from '../../../plugins/bayes/engine/tab-file.ts';
import { prune } from '../../../plugins/bayes/engine/prune.ts';
import { message } from './fixtures.ts';

const IGNORE = DEFAULT_TOKENIZER.ignoreHeaders;
const logit = (p: number) => Math.log(p / (1 - p));

/** A filter that learned `n` spam and `n` ham, class by class, with its byte model fitted. */
function fitted(n: number, from = 0): BayesFilter {
  const f = new BayesFilter();
  const samples = f.byteSamples();
  for (const spam of [true, false]) {
    for (let i = from; i < from + n; i++) {
      const raw = message({ spam, seed: i });
      f.learn(raw, spam);
      samples.add(raw, spam);
    }
  }
  f.dict.byteGrams = samples.fit();
  return f;
}

describe('bayes byte model', () => {
  it('reads the first bytes of a message without the headers another filter added, folded lines included', () => {
    const raw = [
      'From: a@example.org',
      'X-Spam-Status: Yes, score=9.1',
      '\ttests=BAYES_99,URIBL_BLACK',
      'X-Mailmoat-Bayes: 0.9990',
      'Subject: hello',
      'X-Spam-Flag: YES',
      '',
      'X-Spam-Status: a body line is kept as it is',
      '',
    ].join('\r\n');
    const kept = Buffer.from(messagePrefix(raw, IGNORE)).toString('latin1');
    assert.equal(kept, 'From: a@example.org\nSubject: hello\n\nX-Spam-Status: a body line is kept as it is\n');
    // Read as SMTP delivers it (CRLF) or as a Maildir or mbox keeps it (LF), a message gives the same bytes; a lone
    // CR is a byte of the text.
    assert.deepEqual(messagePrefix(raw, IGNORE), messagePrefix(raw.replace(/\r\n/g, '\n'), IGNORE));
    assert.equal(Buffer.from(messagePrefix('Subject: a\rb\r\n\r\nc\rd\r\r\n', IGNORE)).toString(), 'Subject: a\rb\n\nc\rd\r\n');
    const long = `Subject: x\n\n${'y'.repeat(5000)}`;
    assert.equal(messagePrefix(long, IGNORE).length, PREFIX_BYTES);
    assert.equal(messagePrefix(long, IGNORE, 10).length, 10);
    // A message that is only headers, without a final line break, and one that is empty.
    assert.equal(Buffer.from(messagePrefix('Subject: hi\nX-Spam-Level: ***', IGNORE)).toString(), 'Subject: hi\n');
    assert.equal(messagePrefix('', IGNORE).length, 0);
    // Names in any case; a line without a colon is no field; other lists, a bare `*` among them.
    const mixed = 'x-SPAM-level: **\nX-Spam\nx-bogosity: Spam\nx-bogosityx: kept\n\nbody';
    assert.equal(Buffer.from(messagePrefix(mixed, IGNORE)).toString(), 'X-Spam\nx-bogosityx: kept\n\nbody');
    assert.equal(Buffer.from(messagePrefix('SUBJECT: x\nFrom: a\n\nb', ['subject'])).toString(), 'From: a\n\nb');
    assert.equal(Buffer.from(messagePrefix('SUBJECT: x\nFrom: a\n\nb', ['*'])).toString(), '\nb');
  });

  it('reads hostile headers in linear time: 400 KB of lines without a colon, then ignored fields, then a colon', () => {
    const raw = Buffer.from(`${'ab\n'.repeat(70_000)}${'X-Spam-Level: *\n'.repeat(12_000)}Subject: x\n\nbody`);
    const t0 = performance.now();
    const prefix = messagePrefix(raw, IGNORE, raw.length);
    const ms = performance.now() - t0;
    assert.equal(prefix.length, 3 * 70_000 + 'Subject: x\n\nbody'.length);
    assert.ok(ms < 2000, `${ms.toFixed(0)} ms`);
  });

  it('fits byte sequences only spam holds above 0 and those only ham holds below, the same for the same messages', () => {
    const f = fitted(20);
    const model = f.dict.byteGrams!;
    assert.equal(model.messages, 40);
    const spam = message({ spam: true, seed: 50 });
    const ham = message({ spam: false, seed: 50 });
    const term = (raw: string) => model.term(messagePrefix(raw, IGNORE));
    assert.ok(term(spam) > 0, `spam: ${term(spam)}`);
    assert.ok(term(ham) < 0, `ham: ${term(ham)}`);
    assert.equal(term(''), 0);
    assert.deepEqual(fitted(20).dict.byteGrams!.state, model.state, 'the same folders give the same model');
    // Headers another filter added change nothing.
    const tagged = spam.replace('MIME-Version', 'X-Spam-Status: No, score=-5.0\r\nMIME-Version');
    assert.equal(term(tagged), term(spam));
  });

  it('moves the score by byteGramWeight times its term, and not at all with byteGramWeight 0 or without a model', () => {
    const f = fitted(20);
    const raw = `${message({ spam: true, seed: 60 })}\r\n${message({ spam: false, seed: 61 })}`;
    const withModel = f.score(raw);
    const term = f.dict.byteGrams!.term(messagePrefix(raw, IGNORE));
    assert.notEqual(term, 0);
    const off = new BayesFilter(f.dict, {}, { byteGramWeight: 0 }).score(raw);
    const bare = new Dictionary();
    bare.merge(f.dict);
    bare.byteGrams = undefined;
    const withoutModel = new BayesFilter(bare).score(raw);
    assert.equal(off.probability, withoutModel.probability);
    const cap = f.scoring.logitCap ?? 0;
    const expected = Math.max(-cap, Math.min(cap, logit(off.probability))) + (f.scoring.byteGramWeight ?? 0) * term;
    assert.ok(Math.abs(logit(withModel.probability) - expected) < 1e-9, `${logit(withModel.probability)} against ${expected}`);
    // The string path (explain) and layers (the gateway's file + learned counts) add the same term.
    assert.equal(f.score(raw, f.dict, true).probability, withModel.probability);
    const layered = new LayeredCounts([f.dict, new Dictionary()]);
    assert.equal(f.score(raw, layered).probability, withModel.probability);
    assert.equal(f.byteTerm(raw, new LayeredCounts([new Dictionary(), f.dict])), term, 'the first layer that has a model');
  });

  it('holds the Bayesian logit within ±logitCap when the byte model\'s term is added, and only then', () => {
    const f = fitted(20);
    const raw = message({ spam: true, seed: 70 });
    const term = f.dict.byteGrams!.term(messagePrefix(raw, IGNORE));
    const bayes = logit(new BayesFilter(f.dict, {}, { byteGramWeight: 0 }).score(raw).probability);
    assert.ok(bayes > 3, `a message the Bayesian part is sure of (logit ${bayes})`);
    const capped = (cap: number) => logit(new BayesFilter(f.dict, {}, { logitCap: cap }).score(raw).probability);
    assert.ok(Math.abs(capped(3) - (3 + 0.3 * term)) < 1e-9, `${capped(3)}`);
    assert.ok(Math.abs(capped(2) - (2 + 0.3 * term)) < 1e-9, `${capped(2)}`);
    // No cap: the logit is only kept off ±∞, as without the byte model's term.
    const kept = logit(clampProbability(1 / (1 + Math.exp(-bayes))));
    assert.ok(Math.abs(capped(0) - (kept + 0.3 * term)) < 1e-6, `no cap: ${capped(0)} against ${kept + 0.3 * term}`);
    // Without a byte model (an imported dictionary, say) the probability is Fisher's, uncapped.
    const bare = new Dictionary();
    bare.merge(f.dict);
    bare.byteGrams = undefined;
    assert.equal(logit(new BayesFilter(bare, {}, { logitCap: 3 }).score(raw).probability), bayes);
  });

  it('goes on from a model in a merge, leaving that model as it was', () => {
    const first = fitted(10).dict.byteGrams!;
    const before = Float32Array.from(first.state);
    const f = new BayesFilter();
    const samples = f.byteSamples();
    for (let i = 10; i < 20; i++) samples.add(message({ spam: true, seed: i }), true);
    const next = samples.fit({}, first);
    assert.equal(next.messages, 30);
    assert.deepEqual(first.state, before, 'the starting model is unchanged');
    assert.notDeepEqual(next.state, first.state);
    // A dictionary merged with one that has a model takes it; merged with one without, keeps its own.
    const d = new Dictionary();
    d.byteGrams = first;
    d.merge(new Dictionary());
    assert.equal(d.byteGrams, first);
    const other = new Dictionary();
    other.byteGrams = next;
    d.merge(other);
    assert.equal(d.byteGrams, next);
  });

  it('is the second line of a TAB file, read back exactly, left out for MailEnable, and a malformed line is an error', () => {
    const f = fitted(10);
    const bytes = toTab(f.dict);
    const lines = bytes.toString('latin1').trimEnd().split('\n');
    assert.match(lines[1], /^#byte-grams\t4\t1000\t18\t20\t[A-Za-z0-9+/]+=*$/);
    const back = fromTab(bytes);
    assert.deepEqual(back.byteGrams!.state, f.dict.byteGrams!.state);
    assert.equal(back.byteGrams!.messages, 20);
    assert.ok(toTab(back).equals(bytes), 'what was read writes the same bytes');
    assert.equal(back.size, f.dict.size, 'the line is no token');
    const mailEnable = toTab(f.dict, false).toString('latin1');
    assert.ok(!mailEnable.includes('#byte-grams'));
    assert.equal(fromTab(Buffer.from(mailEnable)).byteGrams, undefined);
    assert.throws(() => fromTab(Buffer.from('1\t1\nword\t1\t0\n#byte-grams\t4\t1000\t18\t1\tAAAAAA==\n')), /#byte-grams line is malformed.*values for 2\^18 buckets/);
    assert.throws(() => fromTab(Buffer.from('1\t1\n#byte-grams\t5\t1000\n')), /#byte-grams line is malformed/);
  });

  it('moves to another thread with the dictionary, and pruning keeps it', () => {
    const f = fitted(10);
    const state = Float32Array.from(f.dict.byteGrams!.state);
    const moved = structuredClone(f.dict.toState(), { transfer: stateBuffers(f.dict.toState()) });
    const d = Dictionary.fromState(moved);
    assert.ok(d.byteGrams instanceof ByteGramModel);
    assert.deepEqual(d.byteGrams.state, state);
    assert.equal(d.byteGrams.messages, 20);
    prune(d, { minCount: 2, neutral: 0.1, maxTokens: 5 });
    assert.deepEqual(d.byteGrams.state, state);
  });
});

describe('a message scored as SMTP delivers it and as a mail folder keeps it', () => {
  it('gets one probability from the shipped dictionary, whichever line ends it has', async function () {
    this.timeout(30_000);
    const { loadDictionary } = await import('../../../plugins/bayes/engine/persist.ts');
    const { BayesFilter } = await import('../../../plugins/bayes/engine/filter.ts');
    const dict = await loadDictionary(new URL('../../../dictionaries/default.tab', import.meta.url).pathname);
    assert.ok(dict.byteGrams, 'the shipped dictionary has a byte model');
    const filter = new BayesFilter(dict);
    const lf = 'From: Shop <deals@shop.example>\nSubject: last chance: 70% off\nContent-Type: text/plain\n\nOur biggest sale ends tonight.\nClick here to claim your discount.\n';
    const crlf = lf.replace(/\n/g, '\r\n');
    assert.equal(filter.score(crlf).probability, filter.score(lf).probability);
  });
});
