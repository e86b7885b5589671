// A recipient's release (or Always block) undoes the lesson the gateway learned of the same message when it arrived,
// end to end: a gateway learning from certain verdicts, a rule that scores and quarantines mail sent to it over SMTP,
// real HTTPS POSTs to the quarantine pages, and the dictionary files read after the stop flushed them, compared with a
// dictionary that learned the message once, as the recipient's class alone. This file is also a plugin that keeps
// what the feedback carried (the gateway imports it by its own URL, the module mocha loaded), so the expected counts
// come from the very bytes the bayes plugin learned.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { definePlugin, s, type RecipientFeedback } from '../../../core/index.ts';
import type { RelayingGateway } from '../../helpers/gateway.ts';
import { loadDictionary } from '../../../plugins/bayes/engine/persist.ts';
import { Dictionary } from '../../../plugins/bayes/engine/dictionary.ts';
import { tokenize, DEFAULT_TOKENIZER } from '../../../plugins/bayes/engine/tokenizer.ts';
import { useQuarantinePages } from './gateway-beds.ts';
import type { LogFields } from '../../../core/log/types.ts';
import { waitUntil } from '../../helpers/wait-for.ts';

const heard: RecipientFeedback[] = [];
export default definePlugin({
  name: 'feedback-keeper',
  description: 'Test double: keeps what each feedback event carried',
  configSchema: s.object({}),
  create: () => ({ hooks: {}, feedback(event: RecipientFeedback) { heard.push(event); } }),
});

type Counts = Array<[string, number, number]>;
/** A dictionary's counts, comparable: totals first, then every counted token in order. */
function countsOf(d: Dictionary): { nspam: number; nham: number; tokens: Counts } {
  return { nspam: d.nspam, nham: d.nham, tokens: [...d.entries()].map((e): [string, number, number] => [e.token, e.spam, e.ham]).sort((a, b) => (a[0] < b[0] ? -1 : 1)) };
}
/** What a dictionary that learned only this message, as `spam` or ham, holds. */
function learnedAlone(raw: Buffer, spam: boolean) {
  const d = new Dictionary();
  d.learn(tokenize(raw.subarray(0, 512 * 1024), DEFAULT_TOKENIZER).keys(), spam);
  return countsOf(d);
}

describe('bayes forgets an earlier lesson of a message its recipient judges otherwise', function () {
  this.timeout(60_000);
  const bed = useQuarantinePages();
  let dir: string;
  const annFile = () => path.join(dir, 'ann.tab');
  const sharedFile = () => path.join(dir, 'shared.tab');

  function start(dataDir?: string): Promise<RelayingGateway> {
    return bed.start({
      // A score sure enough to learn from, held rather than refused, so that its recipient can judge it.
      scores: { reject: null },
      plugins: [
        { name: 'feedback-keeper', module: import.meta.filename },
        { name: 'user-lists' },
        {
          // Without the balance rule, so that each lesson's counts are the message's alone, whatever came before.
          name: 'bayes', dictionary: sharedFile(), seed: 'none', learn_from_verdict: true, learn_from_recipients: 'all', balance: false,
          recipient_dictionaries: [{ recipients: ['ann@example.com', 'amy@example.com'], dictionary: annFile(), name: 'ann' }],
        },
        { name: 'rules', rules: [
          { name: 'spammy', when: { subject: '^offer' }, actions: [{ score: 20 }, { quarantine: 'held as spam' }] },
          { name: 'hammy', when: { subject: '^minutes' }, actions: [{ score: -5 }, { quarantine: 'held for review' }] },
        ] },
      ],
    }, dataDir);
  }
  beforeEach(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'bayes-relearn-')); heard.length = 0; });
  // After the bed's own afterEach, which stops the gateway writing into it; the data_dir of the restart test goes too.
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const send = (to: string[], subject: string): Promise<string> =>
    bed.send(to, { from: '"Shop" <offers@shop.example>', subject, text: `${subject}: garden chairs, lanterns and seeds, at prices you will not see again.` });
  const { releaseLink, onPage } = bed;
  /** The bayes plugin's lesson lines about one message: what, which class, into which dictionary. */
  const lessons = (qid: string) => bed.gateway.logs
    .filter((l: LogFields) => l.plugin === 'bayes' && l.qid === qid && /^bayes (not learned|learned|forgot|relearned|could not)/.test(String(l.msg)))
    .map((l) => [l.msg, l.class, l.recipients ?? 'shared', ...(l.reason ? [l.reason] : [])]);
  const sorted = <T>(a: T[]) => a.map((x) => JSON.stringify(x)).sort();
  /** The page did what was asked: it answers with the result, or sends the browser to it (Post/Redirect/Get). */
  const done = (r: { status: number; body: string }) => assert.ok(r.status === 200 || r.status === 303, `${r.status}: ${r.body}`);
  async function stopAndRead() {
    await bed.stop();
    return { ann: countsOf(await loadDictionary(annFile())), shared: countsOf(await loadDictionary(sharedFile())) };
  }

  it('a release takes the spam lesson learned on arrival out, in both dictionaries: the counts are those of the message learned as ham alone', async () => {
    await start();
    const id = await send(['ann@example.com'], 'offer of the week');
    await waitUntil('the arrival lessons in both dictionaries', () => lessons(id).length >= 2);
    assert.deepEqual(sorted(lessons(id)), sorted([['bayes learned', 'spam', 'shared'], ['bayes learned', 'spam', 'ann']]));
    done(await releaseLink(id, 'ann@example.com'));
    assert.deepEqual(sorted(lessons(id)), sorted([
      ['bayes learned', 'spam', 'shared'], ['bayes learned', 'spam', 'ann'],
      ['bayes forgot spam lesson', 'spam', 'shared'], ['bayes forgot spam lesson', 'spam', 'ann'],
      ['bayes relearned as ham', 'ham', 'shared'], ['bayes relearned as ham', 'ham', 'ann'],
    ]));
    assert.equal(heard.length, 1);
    const expected = learnedAlone(heard[0].raw, false);
    assert.ok(expected.tokens.length > 20, 'the message has tokens to compare');
    const files = await stopAndRead();
    assert.deepEqual(files.ann, expected);
    assert.deepEqual(files.shared, expected);
  });

  it('Always block after an auto-learned ham relearns it as spam; a second release of the same class by another recipient counts nothing again', async () => {
    await start();
    const ham = await send(['ann@example.com'], 'minutes of the meeting');
    const both = await send(['ann@example.com', 'amy@example.com'], 'offer for two');
    await new Promise((r) => setTimeout(r, 100));
    done(await onPage('ann@example.com', ham, 'block'));
    assert.deepEqual(sorted(lessons(ham)).filter((l) => !l.includes('"bayes learned","ham"')), sorted([
      ['bayes forgot ham lesson', 'ham', 'shared'], ['bayes forgot ham lesson', 'ham', 'ann'],
      ['bayes relearned as spam', 'spam', 'shared'], ['bayes relearned as spam', 'spam', 'ann'],
    ]));
    done(await onPage('ann@example.com', both, 'release'));
    done(await onPage('amy@example.com', both, 'release'));
    const second = lessons(both).filter((l) => l[0] === 'bayes not learned');
    assert.deepEqual(sorted(second), sorted([
      ['bayes not learned', 'ham', 'ann', 'the message was learned as ham already'], ['bayes not learned', 'ham', 'shared', 'the message was learned as ham already'],
    ]));
    const expected = new Dictionary();
    expected.learn(tokenize(heard[0].raw, DEFAULT_TOKENIZER).keys(), true);
    expected.learn(tokenize(heard[1].raw, DEFAULT_TOKENIZER).keys(), false);
    const files = await stopAndRead();
    assert.deepEqual(files.ann, countsOf(expected));
    assert.deepEqual(files.shared, countsOf(expected));
  });

  it('the record outlives a restart: a release after it still forgets the spam lesson', async () => {
    // A data_dir of the test's own, which outlives the stop between the two starts: the helper would remove one it
    // made at that stop. It is inside `dir`, removed after the test.
    const dataDir = mkdtempSync(path.join(dir, 'data-'));
    await start(dataDir);
    const id = await send(['ann@example.com'], 'offer before the restart');
    await waitUntil('the arrival lesson in ann\'s dictionary', () => lessons(id).some((l) => l[2] === 'ann'));
    await bed.stop();
    assert.match(readFileSync(`${annFile()}.lessons`, 'utf8'), new RegExp(`^${id}\\ts\\t`, 'm'));
    await start(dataDir);
    done(await releaseLink(id, 'ann@example.com'));
    assert.ok(lessons(id).some((l) => l[0] === 'bayes forgot spam lesson' && l[2] === 'ann'));
    const files = await stopAndRead();
    assert.deepEqual(files.ann, learnedAlone(heard[0].raw, false));
  });
});
