// A MailEnable XML dictionary cut short (a copy that stopped half way, `head -c`) is a damaged file, as a TAB file
// cut mid-line is: import and stats say so, check-config refuses it, and a gateway scores with what it read but never
// writes over it. Read silently before, it was imported as whole and the gateway's first flush made it look whole.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { startRelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { fromXml, type ReadReport } from '../../../plugins/bayes/engine/formats.ts';
import { message, writeCorpus } from './fixtures.ts';
import { until } from '../../core/queue/send.ts';

const MOAT = path.resolve(import.meta.dirname, '..', '..', '..', 'scripts', 'moat.js');

function moat(...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [MOAT, ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function read(xml: string): { tokens: number; report: ReadReport } {
  const report: ReadReport = { count: 0, first: 0 };
  return { tokens: fromXml(xml, report).size, report };
}

describe('bayes: a MailEnable XML dictionary cut short', function () {
  this.timeout(60_000);
  let dir: string;
  let whole: string;
  /** Cut inside the tag of an entry, as `head -c` left the admin's file: `…</E>\n<E `. */
  let dangling: string;
  /** Cut at the end of an entry, so only the closing tags are missing. */
  let unclosed: string;
  let entries: number;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-xml-cut-'));
    const corpus = writeCorpus(path.join(dir, 'corpus'), 30);
    const tab = path.join(dir, 'd.tab');
    assert.equal(moat('bayes', 'create', tab, corpus.spamDir, corpus.hamDir).code, 0);
    const xml = path.join(dir, 'whole.xml');
    assert.equal(moat('bayes', 'export', tab, xml).code, 0);
    whole = fs.readFileSync(xml, 'utf8');
    entries = whole.match(/<E /g)!.length;
    const half = whole.indexOf('<E ', Math.floor(whole.length / 2));
    dangling = whole.slice(0, half + 3);
    unclosed = whole.slice(0, whole.lastIndexOf('</E>', half) + 4) + '\n';
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('the reader counts a dangling entry or missing closing tags as one malformed entry, after the last read', () => {
    assert.deepEqual(read(whole).report, { count: 0, first: 0 }, 'a whole file');
    // The entries whole before the cut: every one but the dangling tag.
    const before = dangling.match(/<E /g)!.length - 1;
    const cut = read(dangling);
    assert.equal(cut.tokens, before);
    assert.deepEqual(cut.report, { count: 1, first: before + 1 });
    assert.deepEqual(read(unclosed).report, { count: 1, first: before + 1 });
    // Cut inside an entry's text: that entry is the malformed one, counted once.
    const inText = dangling + 'W="1" B="2">vi';
    assert.deepEqual(read(inText).report, { count: 1, first: before + 1 });
    // Only </ELEMENTS> missing, of a file that opened it; and a file without that root, which never needs it.
    assert.deepEqual(read(whole.replace('</ELEMENTS>', '')).report, { count: 1, first: entries + 1 });
    assert.deepEqual(read('<ENTRIES W="1" B="1"><E W="1" B="0">a</E></ENTRIES>').report, { count: 0, first: 0 });
    assert.deepEqual(read('<ENTRIES W="1" B="1"><E W="1" B="0">a</E><E W="1"').report, { count: 1, first: 2 });
  });

  it('import and stats report it as a malformed entry; check-config refuses it as the dictionary', () => {
    for (const [name, text] of [['dangling.xml', dangling], ['unclosed.xml', unclosed]]) {
      const file = path.join(dir, name);
      fs.writeFileSync(file, text);
      const imported = moat('bayes', 'import', path.join(dir, `from-${name}.tab`), file);
      assert.equal(imported.code, 0, imported.err);
      assert.match(imported.out, /; passed over 1 malformed entry \(the first: entry \d+\)/, name);
      const stats = JSON.parse(moat('bayes', 'stats', file, '--json').out);
      assert.equal(stats.malformed.count, 1, name);

      const config = path.join(dir, `${name}.yaml`);
      fs.writeFileSync(config, `data_dir: ${path.join(dir, 'data')}\ndomains: [example.com]\nplugins:\n  - name: bayes\n    dictionary: ${file}\n`);
      const checked = moat('check-config', '--config', config);
      assert.equal(checked.code, 1, checked.out + checked.err);
      assert.match(checked.err, new RegExp(`plugins\\[0\\]\\.dictionary: the dictionary ${file} has 1 malformed entry \\(the first is entry \\d+\\)`));
    }
    const wholeFile = path.join(dir, 'whole.xml');
    assert.match(moat('bayes', 'import', path.join(dir, 'from-whole.tab'), wholeFile).out, /^imported \d+ tokens from .*whole\.xml into .*\(30 spam, 30 ham messages\)$/m);
  });

  it('a gateway scores with it, warns at start, and never writes over it', async () => {
    const file = path.join(dir, 'gateway.xml');
    fs.writeFileSync(file, dangling);
    const gw = await startRelayingGateway({
      config: {
        plugins: [{ name: 'bayes', dictionary: file, seed: 'none', min_learned: 10, honeypots: ['trap@example.com'], flush_interval: '100ms', reload_check: '100ms' }],
      },
    });
    try {
      const warning = gw.logs.find((l) => l.msg === 'bayes dictionary file refused');
      assert.ok(warning, 'warned at start');
      assert.match(String(warning.detail), /1 malformed entry \(the first is entry \d+\).*what is learned cannot be saved to it/);
      const c = await SmtpDialog.connect(gw.port);
      try {
        assert.equal((await c.hello({ xclient: { addr: '203.0.113.9' } })).code, 250);
        assert.equal((await c.cmd('MAIL FROM:<someone@sender.test>')).code, 250);
        for (const to of ['trap@example.com', 'bob@example.com']) assert.equal((await c.cmd(`RCPT TO:<${to}>`)).code, 250);
        assert.equal((await c.data(message({ spam: true, seed: 811, subject: 'cut-short lesson' }))).code, 250);
      } finally {
        await c.quit();
      }
      await until(() => gw.logs.some((l) => l.msg === 'bayes learned'), 10_000, 'the lesson');
      // Several flush intervals: none may write the file.
      await new Promise((r) => setTimeout(r, 600));
      assert.equal(fs.readFileSync(file, 'utf8'), dangling, 'the file is as it was cut');
    } finally {
      await gw.stop();
    }
    assert.equal(fs.readFileSync(file, 'utf8'), dangling, 'nor written at stop');
    assert.equal(fs.readdirSync(dir).filter((n) => n.startsWith('gateway.xml.unsaved-')).length, 1, 'the lesson was kept beside it');
  });
});
