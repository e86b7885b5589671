// A dictionary replaced on purpose by one without the models (a MailEnable import), which a running gateway refuses
// until `moat bayes reload`: from that reload on, its flushes must write the lessons into the file it took. They
// stayed in memory instead, and at stop went to a side file, because the refusal of the flush outlived the reload.
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

/** A spam to the honeypot (and a real recipient, so the transaction is relayed); `seed` makes each one different. */
async function sendToHoneypot(port: number, seed: number): Promise<void> {
  const c = await SmtpDialog.connect(port);
  try {
    assert.equal((await c.hello({ xclient: { addr: '203.0.113.9' } })).code, 250);
    assert.equal((await c.cmd('MAIL FROM:<someone@sender.test>')).code, 250);
    for (const to of ['trap@example.com', 'bob@example.com']) assert.equal((await c.cmd(`RCPT TO:<${to}>`)).code, 250);
    assert.equal((await c.data(message({ spam: true, seed, subject: `replaced-lesson ${seed} zqxreplacedtoken` }))).code, 250);
  } finally {
    await c.quit();
  }
}

describe('bayes: a replaced dictionary taken by `moat bayes reload`', function () {
  this.timeout(60_000);
  let dir: string;
  let gw: RelayingGateway | undefined;

  before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-reload-replaced-')); });
  after(async () => {
    await gw?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('writes the lessons kept while the file was refused into the file at the next flush, and leaves no .unsaved file at stop', async () => {
    const corpus = writeCorpus(path.join(dir, 'corpus'), 30);
    const dict = path.join(dir, 'dictionary.tab');
    const plain = path.join(dir, 'me.tab');
    assert.equal(moat('create', dict, corpus.spamDir, corpus.hamDir).code, 0);
    gw = await startRelayingGateway({
      config: {
        plugins: [{
          name: 'bayes', dictionary: dict, seed: 'none', min_learned: 10, honeypots: ['trap@example.com'], balance: false,
          flush_interval: '200ms', reload_check: '100ms',
        }],
      },
    });
    const logged = (msg: string, detail?: RegExp) => gw!.logs.some((l) => l.msg === msg && (!detail || detail.test(String(l.detail))));

    // The replacement: counts alone, as MailEnable's file holds them.
    assert.equal(moat('export', dict, plain).code, 0);
    assert.equal(moat('import', dict, plain).code, 0);
    const imported = await loadDictionary(dict);
    assert.equal(imported.byteGrams, undefined);
    await until(() => logged('bayes dictionary file refused', /not reloaded: it has no byte model/), 10_000, 'the reload refusal');

    const LESSONS = 6;
    for (let i = 0; i < LESSONS; i++) await sendToHoneypot(gw.port, 700 + i);
    await until(() => gw!.logs.filter((l) => l.msg === 'bayes learned').length === LESSONS, 10_000, 'the lessons');
    await until(() => logged('bayes dictionary file refused', /not written to: it has no byte model/), 10_000, 'the flush refusal');
    assert.equal((await loadDictionary(dict)).nspam, imported.nspam, 'nothing written while refused');

    const asked = moat('reload', '--data-dir', gw.dataDir);
    assert.equal(asked.code, 0, asked.err);
    await until(() => gw!.logs.some((l) => l.msg === 'bayes dictionary reloaded' && l.requested === true), 10_000, 'the requested reload');

    // The next flush after the reload takes every lesson kept meanwhile into the file.
    let file = imported;
    await until(async () => (file = await loadDictionary(dict)).nspam === imported.nspam + LESSONS, 10_000, `the ${LESSONS} lessons in the file`);
    assert.equal(file.nham, imported.nham);
    // The word each lesson's subject holds, under whatever prefix the tokenizer gives a subject's words.
    const marked = [...file.entries()].filter((e) => /^(?:[^~]*:)?zqxreplacedtoken$/.test(e.token));
    assert.ok(marked.length > 0, 'the lessons\' own token is in the file');
    for (const e of marked) assert.equal(e.spam, LESSONS, e.token);

    const g = gw;
    gw = undefined;
    await g.stop();
    assert.ok(!g.logs.some((l) => l.msg === 'plugin close failed'), JSON.stringify(g.logs.find((l) => l.msg === 'plugin close failed')));
    assert.deepEqual(fs.readdirSync(dir).filter((n) => n.includes('.unsaved-')), [], 'no side file');
    assert.equal((await loadDictionary(dict)).nspam, imported.nspam + LESSONS);
  });
});
