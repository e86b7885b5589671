// `moat bayes` as an admin's walk-through used it: folders that do not exist, Ctrl-C while writing, a big mbox's
// progress, overlapping merges, links between the spam and ham folders, and a MailEnable file of the other format.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { message, writeCorpus } from '../../plugins/bayes/fixtures.ts';
import { loadDictionary, saveDictionary } from '../../../plugins/bayes/engine/persist.ts';
import { Dictionary } from '../../../plugins/bayes/engine/dictionary.ts';
import { Progress } from '../../../scripts/bayes/progress.ts';
import { listSources, readMessages } from '../../../scripts/bayes/mail-folders.ts';

const MOAT = path.resolve(import.meta.dirname, '../../../scripts/moat.js');

function moat(...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [MOAT, 'bayes', ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Starts `moat bayes …` and calls `when` with it once a file named `name` appears in `dir`. */
function runUntilFile(dir: string, name: (n: string) => boolean, args: string[], when: (pid: number) => void): Promise<{ code: number | null; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MOAT, 'bayes', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (b: Buffer) => { err += b.toString(); });
    let fired = false;
    const watcher = fs.watch(dir, (_event, file) => {
      if (fired || !file || !name(file.toString())) return;
      fired = true;
      when(child.pid!);
    });
    child.on('exit', (code) => { watcher.close(); resolve({ code, err }); });
  });
}

describe('moat bayes: an admin walk-through', function () {
  this.timeout(120_000);
  let dir: string;
  let spamDir: string;
  let hamDir: string;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-walk-'));
    ({ spamDir, hamDir } = writeCorpus(path.join(dir, 'train'), 20));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('refuses a DICT or FILE whose folder does not exist, and makes none (create, merge, export, import)', () => {
    const dict = path.join(dir, 'ok.tab');
    assert.equal(moat('create', dict, spamDir, hamDir).code, 0);
    const missing = path.join(dir, 'nonexistent', 'deep');
    const cases: Array<[string[], string]> = [
      [['create', path.join(missing, 'd.tab'), spamDir, hamDir], path.join(missing, 'd.tab')],
      [['merge', path.join(missing, 'nope.tab'), spamDir, hamDir], path.join(missing, 'nope.tab')],
      [['export', dict, path.join(missing, 'x.tab')], path.join(missing, 'x.tab')],
      [['import', path.join(missing, 'i.tab'), dict], path.join(missing, 'i.tab')],
    ];
    for (const [args, target] of cases) {
      const r = moat(...args);
      assert.equal(r.code, 1, `${args[0]}: ${r.out}${r.err}`);
      assert.match(r.err, new RegExp(`^moat bayes ${args[0]}: cannot write ${target}: the folder ${missing} does not exist`, 'm'));
    }
    assert.equal(fs.existsSync(path.join(dir, 'nonexistent')), false, 'no folder was made');
  });

  it('Ctrl-C or SIGTERM while a merge writes removes its lock and temporary file, exit 130 or 143, the dictionary whole', async () => {
    // Big enough that reading, merging and writing it under the lock takes a good part of a second.
    const big = path.join(dir, 'big');
    fs.mkdirSync(big);
    const dict = path.join(big, 'dict.tab');
    const d = new Dictionary();
    for (let i = 0; i < 400_000; i++) d.add(`token${i}`, i % 7, i % 5);
    d.nspam = 1000;
    d.nham = 1000;
    await saveDictionary(dict, d);
    for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
      const r = await runUntilFile(big, (n) => n === 'dict.tab.lock', ['merge', dict, spamDir, hamDir, '--no-reinforce', '--no-linear', '--no-byte-grams'], (pid) => process.kill(pid, signal));
      assert.equal(r.code, code, r.err);
      assert.match(r.err, new RegExp(`interrupted \\(${signal}\\) while writing`));
      assert.deepEqual(fs.readdirSync(big).filter((n) => n !== 'dict.tab'), [], 'no lock or temporary file left');
      const after = await loadDictionary(dict);
      assert.ok([1000, 1020].includes(after.nspam), `whole, old or new: ${after.nspam}`);
    }
    // The next writer does not wait on anything.
    const t0 = Date.now();
    assert.equal(moat('merge', dict, spamDir, hamDir, '--no-reinforce', '--no-linear', '--no-byte-grams').code, 0);
    assert.ok(Date.now() - t0 < 20_000);
  });

  it('the progress bar counts the messages of one big mbox as they are read, not its one file', () => {
    const mbox = path.join(dir, 'big.mbox');
    const parts: string[] = [];
    for (let i = 0; i < 50; i++) parts.push(`From sender@example.org Thu Nov 21 10:00:00 2026\n${message({ spam: true, seed: i }).replace(/\r\n/g, '\n')}\n`);
    fs.writeFileSync(mbox, parts.join(''));
    const drawn: string[] = [];
    const write = process.stderr.write;
    process.stderr.write = ((chunk: string) => { drawn.push(String(chunk)); return true; }) as typeof process.stderr.write;
    let seen = 0;
    try {
      const bar = new Progress('learning', 1, true);
      for (const item of readMessages(listSources(mbox), { onFile: () => bar.tick(), onMessage: () => bar.message(), onProgress: (f) => bar.within(f) })) {
        assert.ok(item.raw.length > 0);
        seen++;
        if (seen === 25) bar.finish();
      }
    } finally {
      process.stderr.write = write;
    }
    assert.equal(seen, 50);
    assert.ok(drawn.some((l) => / 25 messages, 0\/1 files, \d+ msg\/s/.test(l)), `midway the bar shows the messages read: ${JSON.stringify(drawn)}`);
  });

  it('merge --json reports the byte model as written, when another merge wrote in between', async () => {
    const place = path.join(dir, 'overlap');
    fs.mkdirSync(place);
    const dict = path.join(place, 'dict.tab');
    assert.equal(moat('create', dict, spamDir, hamDir).code, 0);
    // What another merge will have written meanwhile: the same dictionary after a merge of more mail.
    const other = path.join(dir, 'other.tab');
    fs.copyFileSync(dict, other);
    const more = writeCorpus(path.join(dir, 'more'), 15, 100);
    assert.equal(moat('merge', other, more.spamDir, more.hamDir).code, 0);
    // Our lock (a live pid) holds the merge at its write, after it read DICT and fitted its models.
    const lock = `${dict}.lock`;
    fs.writeFileSync(lock, `${process.pid}\n`);
    const third = writeCorpus(path.join(dir, 'third'), 5, 200);
    const child = spawn(process.execPath, [MOAT, 'bayes', 'merge', dict, third.spamDir, third.hamDir, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    child.stderr.on('data', (b: Buffer) => { err += b.toString(); });
    const exited = new Promise<number | null>((r) => child.on('exit', r));
    await new Promise<void>((resolve) => {
      // The merge tries the lock by linking a file of its own beside it: it has read DICT by then.
      const w = fs.watch(place, (_e, f) => { if (f && f.toString().startsWith('dict.tab.lock.')) { w.close(); resolve(); } });
    });
    fs.copyFileSync(other, `${dict}.swap`);
    fs.renameSync(`${dict}.swap`, dict);
    fs.rmSync(lock);
    assert.equal(await exited, 0, err);
    const j = JSON.parse(out);
    const written = await loadDictionary(dict);
    assert.ok(written.byteGrams);
    assert.equal(j.byteGrams.messages, written.byteGrams.messages);
    assert.equal(j.messages.spam, written.nspam);
  });

  it('refuses a symbolic link under HAMDIR into SPAMDIR (or to a folder both reach), and passes over a link loop', () => {
    const root = path.join(dir, 'links');
    const spam = path.join(root, 'spam');
    const ham = path.join(root, 'ham');
    fs.mkdirSync(path.join(spam, 'mai'), { recursive: true });
    fs.mkdirSync(ham, { recursive: true });
    for (let i = 0; i < 5; i++) {
      fs.writeFileSync(path.join(spam, 'mai', `${i}.eml`), message({ spam: true, seed: i }));
      fs.writeFileSync(path.join(ham, `${i}.eml`), message({ spam: false, seed: i }));
    }
    const dict = path.join(root, 'd.tab');
    fs.symlinkSync('../spam/mai', path.join(ham, 'x'));
    const r = moat('create', dict, spam, ham);
    assert.equal(r.code, 64, r.err);
    assert.match(r.err, /SPAMDIR and HAMDIR both reach .*spam\/mai \(through a symbolic link\)/);
    fs.rmSync(path.join(ham, 'x'));
    fs.symlinkSync(path.join(spam, 'mai', '3.eml'), path.join(ham, 'one.eml'));
    assert.equal(moat('create', dict, spam, ham).code, 64, 'a link to one spam file');
    fs.rmSync(path.join(ham, 'one.eml'));
    assert.equal(fs.existsSync(dict), false);
    fs.symlinkSync('.', path.join(ham, 'loop'));
    const ok = moat('create', dict, spam, ham, '--json');
    assert.equal(ok.code, 0, ok.err);
    const j = JSON.parse(ok.out);
    assert.deepEqual([j.learned.spam, j.learned.ham + j.duplicates.ham], [5, 5]);
    assert.ok(j.skipped.some((s: { reason: string }) => s.reason === 'link loop'));
  });

  it('import reads the format the file holds, and refuses a --format that contradicts it with exit 64, as export does', () => {
    const dict = path.join(dir, 'fmt.tab');
    assert.equal(moat('create', dict, spamDir, hamDir).code, 0);
    const xml = path.join(dir, 'me.xml');
    assert.equal(moat('export', dict, xml).code, 0);
    const wrong = moat('import', path.join(dir, 'in.tab'), xml, '--format', 'tab');
    assert.equal(wrong.code, 64, wrong.err);
    assert.match(wrong.err, /FILE .*me\.xml holds MailEnable XML, but --format is tab: give --format xml, or leave it out/);
    const tabNamedXml = path.join(dir, 'tab-content.xml');
    assert.equal(moat('export', dict, path.join(dir, 'plain.tab')).code, 0);
    fs.copyFileSync(path.join(dir, 'plain.tab'), tabNamedXml);
    assert.equal(moat('import', path.join(dir, 'in2.tab'), tabNamedXml, '--format', 'xml').code, 64);
    const byContent = moat('import', path.join(dir, 'in3.tab'), tabNamedXml);
    assert.equal(byContent.code, 0, byContent.err);
    assert.equal(moat('import', path.join(dir, 'in4.tab'), xml, '--format', 'xml').code, 0);
  });
});
