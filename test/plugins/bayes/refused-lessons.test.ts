// What a running gateway does with lessons when its dictionary file is refused (malformed lines at start, or a new
// version without the byte model a `moat bayes create --no-byte-grams` wrote): it says so at once, and at stop writes
// the lessons beside the file, where `moat bayes import --merge` adds them, instead of losing them.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { loadDictionary } from '../../../plugins/bayes/engine/persist.ts';
import { message, writeCorpus } from './fixtures.ts';
import { until } from '../../core/queue/send.ts';

const MOAT = path.resolve(import.meta.dirname, '..', '..', '..', 'scripts', 'moat.js');

function moat(...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [MOAT, 'bayes', ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

async function sendToHoneypot(port: number, subject: string): Promise<void> {
  const c = await SmtpDialog.connect(port);
  try {
    assert.equal((await c.hello({ xclient: { addr: '203.0.113.9' } })).code, 250);
    assert.equal((await c.cmd('MAIL FROM:<someone@sender.test>')).code, 250);
    for (const to of ['trap@example.com', 'bob@example.com']) assert.equal((await c.cmd(`RCPT TO:<${to}>`)).code, 250);
    assert.equal((await c.data(message({ spam: true, seed: 901, subject }))).code, 250);
  } finally {
    await c.quit();
  }
}

/** The side files a stop wrote beside `dict`. */
const asideOf = (dict: string) => fs.readdirSync(path.dirname(dict)).filter((n) => n.startsWith(`${path.basename(dict)}.unsaved-`)).map((n) => path.join(path.dirname(dict), n));

describe('bayes: lessons a refused dictionary file cannot take', function () {
  this.timeout(60_000);
  let dir: string;
  let corpus: { spamDir: string; hamDir: string };

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-refused-'));
    corpus = writeCorpus(path.join(dir, 'corpus'), 30);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const bayes = (dictionary: string) => ({
    plugins: [{ name: 'bayes', dictionary, seed: 'none', min_learned: 10, honeypots: ['trap@example.com'], flush_interval: '100ms', reload_check: '100ms' }],
  });

  it('a file with malformed lines: check-config refuses it naming the count and the fix; the start log says lessons cannot be saved; at stop they are written beside it and import adds them', async () => {
    const dict = path.join(dir, 'malformed.tab');
    assert.equal(moat('create', dict, corpus.spamDir, corpus.hamDir).code, 0);
    for (let i = 0; i < 7; i++) fs.appendFileSync(dict, `bad${i}\tx\n`);
    const config = path.join(dir, 'malformed.yaml');
    fs.writeFileSync(config, `data_dir: ${path.join(dir, 'data-malformed')}\ndomains: [example.com]\nplugins:\n  - name: bayes\n    dictionary: ${dict}\n`);
    const checked = spawnSync(process.execPath, [MOAT, 'check-config', '--config', config], { encoding: 'utf8' });
    assert.equal(checked.status, 1, checked.stdout + checked.stderr);
    assert.match(checked.stderr, new RegExp(`plugins\\[0\\]\\.dictionary: the dictionary ${dict} has 7 malformed lines \\(the first is line \\d+\\): .*could not save what it learns.*moat bayes import ${dict} ${dict}`));

    const before = await loadDictionary(dict);
    let gw: RelayingGateway | undefined = await startRelayingGateway({ config: bayes(dict) });
    try {
      const warning = gw.logs.find((l) => l.msg === 'bayes dictionary file refused');
      assert.ok(warning, 'warned at start');
      assert.match(String(warning.detail), /7 malformed lines .*what is learned cannot be saved to it/);
      await sendToHoneypot(gw.port, 'malformed-lesson');
      await until(() => gw!.logs.some((l) => l.msg === 'bayes learned'), 10_000, 'the lesson');
    } finally {
      await gw.stop();
    }
    const closing = gw.logs.find((l) => l.msg === 'plugin close failed');
    gw = undefined;
    const [aside] = asideOf(dict);
    assert.ok(aside, 'the lesson was written beside the dictionary');
    assert.match(String(closing?.error), new RegExp(`1 learned message could not be saved to it, so they were written to ${aside}.*moat bayes import ${dict} ${aside} --merge`));

    // The fix the messages name: rewrite without the malformed lines, then add the lesson.
    const mended = moat('import', dict, dict);
    assert.equal(mended.code, 0, mended.err);
    assert.match(mended.out, /passed over 7 malformed lines/);
    assert.equal(moat('import', dict, aside, '--merge').code, 0);
    const after = await loadDictionary(dict);
    assert.deepEqual([after.nspam, after.nham], [before.nspam + 1, before.nham]);
    assert.ok(after.byteGrams && after.hasWeights, 'the models are kept');
    const stats = JSON.parse(moat('stats', dict, '--json').out);
    assert.equal(stats.malformed.count, 0);
  });

  it('create --no-byte-grams over the file a gateway uses: the CLI says what the gateway will do, the gateway what to run, and lessons meanwhile are kept beside it at stop', async () => {
    const dict = path.join(dir, 'in-use.tab');
    assert.equal(moat('create', dict, corpus.spamDir, corpus.hamDir).code, 0);
    const gw = await startRelayingGateway({ config: bayes(dict) });
    let stopped = false;
    try {
      assert.ok(gw.logs.some((l) => l.msg === 'bayes dictionary loaded'));
      const created = moat('create', dict, corpus.spamDir, corpus.hamDir, '--no-byte-grams');
      assert.equal(created.code, 0, created.err);
      assert.match(created.err, new RegExp(`note: ${dict} now has no byte model\\. A gateway that loaded it with them refuses this version.*moat bayes reload --config`));
      await until(() => gw.logs.some((l) => l.msg === 'bayes dictionary file refused'), 10_000, 'the refusal');
      const refused = gw.logs.find((l) => l.msg === 'bayes dictionary file refused')!;
      assert.match(String(refused.detail), /no byte model.*`moat bayes reload` takes it anyway.*without --no-byte-grams/);
      await sendToHoneypot(gw.port, 'in-use-lesson');
      await until(() => gw.logs.some((l) => l.msg === 'bayes learned'), 10_000, 'the lesson');
      await until(() => gw.logs.some((l) => l.msg === 'bayes dictionary file refused' && /not written to/.test(String(l.detail))), 10_000, 'the flush refusal');
      await gw.stop();
      stopped = true;
    } finally {
      if (!stopped) await gw.stop();
    }
    const [aside] = asideOf(dict);
    assert.ok(aside, 'the lesson was written beside the dictionary');
    const kept = await loadDictionary(aside);
    assert.deepEqual([kept.nspam, kept.nham], [1, 0]);
    const before = await loadDictionary(dict);
    assert.equal(moat('import', dict, aside, '--merge').code, 0);
    assert.equal((await loadDictionary(dict)).nspam, before.nspam + 1);
  });
});
