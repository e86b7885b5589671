// The gateway's live dictionary when its file goes wrong: a missing, truncated, damaged or model-less version of the
// file is refused at reload and at flush (the loaded dictionary kept, a warning naming the file, once per version),
// and a missing file is written back whole from memory, never recreated from the learned counts alone.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Dictionary } from '../../../plugins/bayes/engine/dictionary.ts';
import { ByteGramModel } from '../../../plugins/bayes/engine/byte-grams.ts';
import { loadDictionary, saveDictionary } from '../../../plugins/bayes/engine/persist.ts';
import { DictionaryFileRefused, LiveDictionary } from '../../../plugins/bayes/live-dictionary.ts';

const TOKENS = 3_000;

/** A trained dictionary as `moat bayes create` leaves it: counts, linear weights and a byte model. */
function trained(): Dictionary {
  const d = new Dictionary();
  for (let i = 0; i < TOKENS; i++) d.add(`word${i}`, 1 + (i % 5), (i + 2) % 7, ((i % 11) - 5) / 8);
  d.nspam = 400;
  d.nham = 500;
  const state = new Float32Array(2 << 10);
  for (let b = 0; b < state.length; b += 2) state[b] = ((b % 13) - 6) / 10;
  d.byteGrams = new ByteGramModel(state, 900, 10);
  return d;
}

/** Makes the next write visible as a new version even on a file system with a coarse clock. */
function touchLater(file: string): void {
  const t = new Date(Date.now() + 5_000);
  fs.utimesSync(file, t, t);
}

function refusal(pattern: RegExp): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof DictionaryFileRefused, String(e));
    assert.match(e.message, pattern);
    return true;
  };
}

describe('bayes live dictionary: refusing a damaged or missing file', () => {
  let dir: string;
  let file: string;
  let live: LiveDictionary;
  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-live-'));
    file = path.join(dir, 'dict.tab');
    await saveDictionary(file, trained());
    live = new LiveDictionary(file);
    await live.load();
  });
  afterEach(async () => {
    await live.close().catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the loaded dictionary when the file is moved away, warns once, and the next flush writes it back whole', async () => {
    fs.renameSync(file, path.join(dir, 'elsewhere.tab'));
    await assert.rejects(live.reloadIfChanged(),
      refusal(new RegExp(`bayes dictionary ${file} not reloaded: the file is missing; keeping the loaded dictionary \\(${TOKENS} tokens\\)`)));
    assert.equal(await live.reloadIfChanged(), false, 'warned once, not at every check');
    await assert.rejects(live.reloadIfChanged(true), /the file is missing/, 'a reload request while it is missing is refused too');
    assert.equal(live.baseSize, TOKENS);
    assert.deepEqual([live.counts().nspam, live.counts().nham], [400, 500]);

    live.learn(['new-spam-word'], true);
    await live.flush();
    const back = await loadDictionary(file);
    assert.equal(back.size, TOKENS + 1, 'the whole dictionary came back, not only the learned counts');
    assert.deepEqual([back.nspam, back.nham, back.spamOf('new-spam-word'), back.spamOf('word3')], [401, 500, 1, 4]);
    assert.ok(back.byteGrams && back.hasWeights, 'with its models');
    assert.equal(live.hasPending(), false);
    assert.equal(await live.reloadIfChanged(), false, 'the restored file is the loaded one');
  });

  it('writes a missing file back at the next flush even with nothing learned', async () => {
    fs.rmSync(file);
    await live.flush();
    assert.equal((await loadDictionary(file)).size, TOKENS);
  });

  it('at first start without a file, starts empty and the first flush creates the file from what was learned', async () => {
    const fresh = new LiveDictionary(path.join(dir, 'new.tab'));
    try {
      await fresh.load();
      assert.equal(fresh.baseSize, 0);
      assert.equal(await fresh.reloadIfChanged(), false);
      fresh.learn(['first'], false);
      await fresh.flush();
      const d = await loadDictionary(path.join(dir, 'new.tab'));
      assert.deepEqual([d.size, d.nham], [1, 1]);
    } finally { await fresh.close(); }
  });

  it('refuses a truncated copy with junk lines at reload and at flush, once per version, keeping the learned counts', async () => {
    const whole = fs.readFileSync(file);
    fs.writeFileSync(file, Buffer.concat([whole.subarray(0, whole.length >> 2), Buffer.from('\njunk line\nmore junk\n')]));
    touchLater(file);
    const damaged = fs.readFileSync(file);
    await assert.rejects(live.reloadIfChanged(),
      refusal(new RegExp(`bayes dictionary ${file} not reloaded: \\d+ malformed lines \\(the first is line \\d+\\); (?:it ends without its #end line: [^;]+; )?keeping the loaded dictionary \\(${TOKENS} tokens\\)`)));
    assert.equal(await live.reloadIfChanged(), false, 'the same version is not warned about again');
    assert.equal(live.baseSize, TOKENS);

    live.learn(['learned'], true);
    await assert.rejects(live.flush(), refusal(new RegExp(`bayes dictionary ${file} not written to: \\d+ malformed lines.*1 learned message kept in memory`)));
    await live.flush(); // quietly refused again
    assert.ok(fs.readFileSync(file).equals(damaged), 'the damaged file was not written over');
    assert.equal(live.hasPending(), true);
    assert.equal(live.counts().nspam, 401, 'what was learned still scores');
    await assert.rejects(live.close(), new RegExp(`bayes dictionary ${file} refused \\(\\d+ malformed lines.*\\): 1 learned message could not be saved`));
  });

  it('takes the file once it is whole again, and flushes what was kept meanwhile', async () => {
    const whole = fs.readFileSync(file);
    fs.writeFileSync(file, 'garbage\n');
    touchLater(file);
    await assert.rejects(live.reloadIfChanged(), refusal(new RegExp(`bayes dictionary ${file} not reloaded: not a TAB dictionary.*keeping the loaded dictionary`)));
    assert.equal(await live.reloadIfChanged(), false, 'a file of garbage is warned about once too');
    live.learn(['kept'], false);
    await assert.rejects(live.flush(), /not written to: not a TAB dictionary/);

    fs.writeFileSync(file, whole);
    fs.utimesSync(file, new Date(Date.now() + 10_000), new Date(Date.now() + 10_000));
    assert.equal(await live.reloadIfChanged(), true);
    await live.flush();
    const d = await loadDictionary(file);
    assert.deepEqual([d.size, d.nham, d.hamOf('kept')], [TOKENS + 1, 501, 1]);
  });

  it('refuses a file that lost the byte model or the weights, unless a reload is requested', async () => {
    const noByteModel = trained();
    noByteModel.byteGrams = undefined;
    await saveDictionary(file, noByteModel);
    touchLater(file);
    await assert.rejects(live.reloadIfChanged(), refusal(/not reloaded: it has no byte model, and the loaded dictionary has one; keeping the loaded dictionary.*moat bayes reload/));
    live.learn(['x'], true);
    await assert.rejects(live.flush(), /not written to: it has no byte model/);

    const noWeights = new Dictionary();
    for (const e of trained().entries()) noWeights.add(e.token, e.spam, e.ham);
    noWeights.nspam = 400;
    noWeights.byteGrams = trained().byteGrams;
    await saveDictionary(file, noWeights);
    fs.utimesSync(file, new Date(Date.now() + 10_000), new Date(Date.now() + 10_000));
    await assert.rejects(live.reloadIfChanged(), /not reloaded: it has no linear weights/);

    // `moat bayes reload`: the operator means this file.
    await saveDictionary(file, noByteModel);
    assert.equal(await live.reloadIfChanged(true), true);
    await live.flush();
    const d = await loadDictionary(file);
    assert.equal(d.byteGrams, undefined);
    assert.equal(d.spamOf('x'), 1);
  });

  it('still takes what other writers save: a merge that keeps the models', async () => {
    const more = trained();
    more.learn(['from-cli'], true);
    await saveDictionary(file, more);
    touchLater(file);
    assert.equal(await live.reloadIfChanged(), true);
    assert.equal(live.baseSize, TOKENS + 1);
  });

  it('at start takes a file cut short, reports it, and never writes over it until it is replaced', async () => {
    const whole = fs.readFileSync(file);
    fs.writeFileSync(file, whole.subarray(0, (whole.length >> 1) + 3));
    const damaged = fs.readFileSync(file);
    const cut = new LiveDictionary(file);
    try {
      const report = await cut.load();
      assert.ok(report instanceof DictionaryFileRefused);
      assert.match(report.message, new RegExp(`bayes dictionary ${file} is damaged: 1 malformed line \\(the first is line \\d+\\); scoring with the \\d+ tokens read`));
      assert.ok(cut.baseSize > 0 && cut.baseSize < TOKENS);
      cut.learn(['kept'], true);
      await cut.flush();
      assert.ok(fs.readFileSync(file).equals(damaged), 'not written over');
      assert.equal(cut.hasPending(), true);

      fs.writeFileSync(file, whole);
      touchLater(file);
      assert.equal(await cut.reloadIfChanged(), true);
      await cut.flush();
      assert.deepEqual([(await loadDictionary(file)).spamOf('kept'), cut.hasPending()], [1, false], 'written once the file is whole again');
    } finally { await cut.close(); }
  });

  it('never lets scoring see the counts of a flush without its batch, nor twice, however the steps interleave', async () => {
    live.learn(['batch-word'], true);
    const files = (live as unknown as { files: { mergeInto: (...a: unknown[]) => Promise<unknown> } }).files;
    const mergeInto = files.mergeInto.bind(files);
    const seen: number[] = [];
    // Checks the totals at each of the next microtask turns after the file thread answers, as any session's
    // scoring or balance rule could read them.
    const watch = (turns: number): void => {
      if (turns === 0) return;
      seen.push(live.counts().nspam);
      void Promise.resolve().then(() => watch(turns - 1));
    };
    files.mergeInto = async (...a: unknown[]) => {
      const result = await mergeInto(...a);
      watch(10);
      return result;
    };
    await live.flush();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(seen, Array<number>(10).fill(401));
    assert.deepEqual([live.counts().nspam, live.hasPending()], [401, false]);
  });
});
