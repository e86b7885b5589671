// `moat bayes` through the real entry point (scripts/moat.js in a child process), on small folders of
// one-file messages, a Maildir and an mbox.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { message, writeCorpus } from '../../plugins/bayes/fixtures.ts';
import { loadDictionary } from '../../../plugins/bayes/engine/persist.ts';
import { BayesFilter } from '../../../plugins/bayes/engine/filter.ts';
import { DEFAULT_REINFORCE } from '../../../plugins/bayes/engine/reinforce.ts';

const MOAT = path.resolve(import.meta.dirname, '../../../scripts/moat.js');

function moat(...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [MOAT, 'bayes', ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('moat bayes', function () {
  this.timeout(30_000);
  let dir: string;
  let dict: string;
  let spamDir: string;
  let hamDir: string;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-cli-'));
    dict = path.join(dir, 'dict.tab');
    ({ spamDir, hamDir } = writeCorpus(path.join(dir, 'train'), 25));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('create learns folders into a new dictionary and reports counts as JSON', () => {
    const r = moat('create', dict, spamDir, hamDir, '--json');
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    assert.deepEqual([j.learned.spam, j.learned.ham, j.messages.spam, j.messages.ham], [25, 25, 25, 25]);
    assert.ok(j.tokens > 50);
  });

  it('create learns again a ham the rest misjudge, unless --no-reinforce', () => {
    const odd = writeCorpus(path.join(dir, 'odd'), 10);
    // A ham in the spam vocabulary: only held out does it look like spam.
    fs.writeFileSync(path.join(odd.hamDir, 'odd.eml'), message({ spam: true, seed: 3, subject: 'offer for the team' }));
    const oddDict = path.join(dir, 'odd.tab');
    const j = JSON.parse(moat('create', oddDict, odd.spamDir, odd.hamDir, '--json').out);
    assert.deepEqual(j.reinforced, { spam: 0, ham: 1, checked: 21 });
    assert.deepEqual([j.learned.ham, j.messages.ham], [11, 11 + DEFAULT_REINFORCE.hamTimes], 'the odd ham counts hamTimes more');
    const plain = JSON.parse(moat('create', oddDict, odd.spamDir, odd.hamDir, '--json', '--no-reinforce').out);
    assert.equal(plain.reinforced, undefined);
    assert.equal(plain.messages.ham, 11);
    const text = moat('create', oddDict, odd.spamDir, odd.hamDir);
    assert.match(text.out, /learned 10 spam and 11 ham, then again 0 spam and 1 ham that the rest misjudged, and fitted the weights of \d+ tokens and the byte model \(\d+ msg\/s\)/);
  });

  it('create fits the linear model\'s weights unless --no-linear; merge goes on from the weights in the file', async () => {
    const c = writeCorpus(path.join(dir, 'lin'), 10);
    const linDict = path.join(dir, 'lin.tab');
    const j = JSON.parse(moat('create', linDict, c.spamDir, c.hamDir, '--json').out);
    assert.ok(j.weighted > 20 && j.weighted <= j.tokens, `${j.weighted} of ${j.tokens} tokens weighed`);
    const weighed = await loadDictionary(linDict);
    assert.ok(weighed.weightOf('casino') > 0 && weighed.weightOf('agenda') < 0);
    assert.match(moat('create', linDict, c.spamDir, c.hamDir).out, /and fitted the weights of \d+ tokens and the byte model/);
    const none = JSON.parse(moat('create', linDict, c.spamDir, c.hamDir, '--json', '--no-linear').out);
    assert.equal(none.weighted, undefined);
    assert.equal((await loadDictionary(linDict)).hasWeights, false);
    // A merge of a ham the file's weights misjudge (it is in the spam vocabulary) moves the weights of the tokens
    // it holds from where the file had them, and keeps the rest.
    moat('create', linDict, c.spamDir, c.hamDir);
    const more = path.join(dir, 'lin-more');
    fs.mkdirSync(more);
    const newHam = message({ spam: true, seed: 4, subject: 'offer for the team' });
    fs.writeFileSync(path.join(more, 'h.eml'), newHam);
    const emptySpam = path.join(dir, 'lin-no-spam');
    fs.mkdirSync(emptySpam);
    assert.equal(moat('merge', linDict, emptySpam, more).code, 0);
    const merged = await loadDictionary(linDict);
    const moved = [...new BayesFilter().tokens(newHam).keys()].map((t) => merged.weightOf(t) - weighed.weightOf(t));
    assert.ok(moved.every((d) => d <= 0) && moved.some((d) => d < 0), 'the new ham\'s tokens weigh further towards ham');
    assert.ok(!newHam.includes('agenda'));
    assert.equal(merged.weightOf('agenda'), weighed.weightOf('agenda'), 'a token the new ham lacks keeps its weight');
    const kept = path.join(dir, 'lin-export.tab');
    assert.equal(moat('export', linDict, kept, '--with-weights').code, 0);
    assert.equal(fs.readFileSync(kept, 'utf8'), fs.readFileSync(linDict, 'utf8'));
  });

  it('create fits the byte model unless --no-byte-grams; merge goes on from the model in the file; stats shows it', async () => {
    const c = writeCorpus(path.join(dir, 'bytes'), 10);
    const byteDict = path.join(dir, 'bytes.tab');
    const j = JSON.parse(moat('create', byteDict, c.spamDir, c.hamDir, '--json').out);
    assert.deepEqual(j.byteGrams, { messages: 20 });
    const first = (await loadDictionary(byteDict)).byteGrams!;
    assert.equal(first.messages, 20);
    assert.match(moat('stats', byteDict).out, /\nbyte model: fitted on 20 messages \(first 1000 bytes, 262144 buckets\)\n/);
    // A merge goes on from the file's model: it has then been fitted on both folders, and moved.
    const more = writeCorpus(path.join(dir, 'bytes-more'), 3, 40);
    const merged = JSON.parse(moat('merge', byteDict, more.spamDir, more.hamDir, '--json').out);
    assert.deepEqual(merged.byteGrams, { messages: 26 });
    const next = (await loadDictionary(byteDict)).byteGrams!;
    assert.equal(next.messages, 26);
    assert.notDeepEqual(next.state, first.state);
    // A merge without the pass keeps the file's model as it was.
    assert.equal(moat('merge', byteDict, more.spamDir, more.hamDir, '--no-byte-grams').code, 0);
    assert.deepEqual((await loadDictionary(byteDict)).byteGrams!.state, next.state);
    const none = JSON.parse(moat('create', byteDict, c.spamDir, c.hamDir, '--json', '--no-byte-grams').out);
    assert.equal(none.byteGrams, undefined);
    assert.equal((await loadDictionary(byteDict)).byteGrams, undefined);
    assert.match(moat('stats', byteDict).out, /\nno byte model\n/);
    assert.equal(JSON.parse(moat('stats', byteDict, '--json').out).byteGrams, null);
  });

  it('merge judges new mail by the dictionary it joins: a lone odd ham is learned again', () => {
    const base = writeCorpus(path.join(dir, 'base'), 10);
    const baseDict = path.join(dir, 'base.tab');
    assert.equal(moat('create', baseDict, base.spamDir, base.hamDir, '--no-reinforce').code, 0);
    const newHam = path.join(dir, 'new-ham');
    fs.mkdirSync(newHam);
    fs.writeFileSync(path.join(newHam, 'odd.eml'), message({ spam: true, seed: 4, subject: 'offer for the team' }));
    fs.writeFileSync(path.join(newHam, 'plain.eml'), message({ spam: false, seed: 60 }));
    const noSpam = path.join(dir, 'no-spam');
    fs.mkdirSync(noSpam);
    // Judged only by the merge's own two ham, nothing would look like spam.
    const j = JSON.parse(moat('merge', baseDict, noSpam, newHam, '--json').out);
    assert.deepEqual([j.reinforced.ham, j.reinforced.spam, j.messages.ham, j.messages.spam], [1, 0, 12 + DEFAULT_REINFORCE.hamTimes, 10]);
  });

  it('merge adds a Maildir of spam and an mbox of ham to the dictionary', () => {
    const maildir = path.join(dir, 'maildir');
    for (const sub of ['cur', 'new', 'tmp']) fs.mkdirSync(path.join(maildir, sub), { recursive: true });
    fs.writeFileSync(path.join(maildir, 'cur', '1.host:2,S'), message({ spam: true, seed: 40 }));
    fs.writeFileSync(path.join(maildir, 'new', '2.host'), message({ spam: true, seed: 41 }));
    fs.writeFileSync(path.join(maildir, 'tmp', '3.host'), message({ spam: true, seed: 42 }));
    const mboxDir = path.join(dir, 'mbox');
    fs.mkdirSync(mboxDir);
    const body = (seed: number) => `From alice@partner.test Mon Jan  1 00:00:00 2024\n${message({ spam: false, seed }).replace(/\r\n/g, '\n')}\n>From the minutes\n\n`;
    fs.writeFileSync(path.join(mboxDir, 'Inbox'), body(50) + body(51) + body(52));
    const r = moat('merge', dict, maildir, mboxDir, '--json');
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    assert.deepEqual([j.learned.spam, j.learned.ham, j.messages.spam, j.messages.ham], [2, 3, 27, 28], 'tmp/ of the Maildir is skipped; the mbox holds 3');
  });

  it('verify prints one JSON line per message, spam high and ham low; .mai files count as messages', () => {
    const vdir = path.join(dir, 'verify');
    fs.mkdirSync(vdir);
    fs.writeFileSync(path.join(vdir, 'a.mai'), message({ spam: true, seed: 77 }));
    fs.writeFileSync(path.join(vdir, 'b.eml'), message({ spam: false, seed: 78 }));
    // A file named with `#1` and an mbox's first message both end in `#1`: `message` tells them apart.
    fs.writeFileSync(path.join(vdir, 'c#1'), message({ spam: false, seed: 79 }));
    fs.writeFileSync(path.join(vdir, 'd.mbox'), `From a@b.test Mon Jan  1 00:00:00 2024\n${message({ spam: true, seed: 80 })}`);
    const r = moat('verify', dict, vdir, '--json');
    assert.equal(r.code, 0, r.err);
    const lines = r.out.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.length, 4);
    assert.ok(lines[0].file.endsWith('a.mai') && lines[0].probability > 0.99);
    assert.ok(lines[1].file.endsWith('b.eml') && lines[1].probability < 0.01);
    assert.deepEqual(lines.slice(2).map((l) => [path.basename(l.file), l.message]), [['c#1', undefined], ['d.mbox#1', 1]]);
    assert.match(r.err, /"messages":4,"spam":2/);
    const text = moat('verify', dict, vdir);
    assert.match(text.out, /4 messages: 2 at or above 0\.9/);
  });

  it('create and verify pass over files with no message, say which on stderr and list them with --json', () => {
    const c = writeCorpus(path.join(dir, 'holes'), 5);
    fs.writeFileSync(path.join(c.spamDir, 'empty.eml'), '');
    fs.symlinkSync(path.join(dir, 'nowhere'), path.join(c.hamDir, 'dead-link'));
    const holesDict = path.join(dir, 'holes.tab');
    const j = JSON.parse(moat('create', holesDict, c.spamDir, c.hamDir, '--json').out);
    assert.deepEqual([j.learned.spam, j.learned.ham], [5, 5]);
    assert.deepEqual(j.skipped.map((s: { file: string; reason: string }) => [path.basename(s.file), s.reason]), [['dead-link', 'broken link'], ['empty.eml', 'empty']], 'links are followed while listing, files read after');
    const text = moat('create', holesDict, c.spamDir, c.hamDir);
    assert.equal(text.code, 0, text.err);
    assert.match(text.err, /^skipped 2 files: 1 broken link, 1 empty \(first: .*dead-link, broken link\)$/m);
    const v = moat('verify', holesDict, c.spamDir, '--json');
    assert.equal(v.out.trim().split('\n').length, 5);
    assert.match(v.err, /"skipped":\[\{"file":"[^"]*empty\.eml","reason":"empty"\}\]/);
  });

  it('create learns a copy of a message once, and says so; --keep-duplicates learns every copy', () => {
    const c = writeCorpus(path.join(dir, 'copies'), 5);
    fs.copyFileSync(path.join(c.spamDir, 's1.eml'), path.join(c.spamDir, 'copy-of-s1.eml'));
    fs.copyFileSync(path.join(c.spamDir, 's2.eml'), path.join(c.hamDir, 'spam-labelled-ham.eml'));
    const copiesDict = path.join(dir, 'copies.tab');
    const j = JSON.parse(moat('create', copiesDict, c.spamDir, c.hamDir, '--json', '--no-reinforce').out);
    assert.deepEqual([j.learned.spam, j.learned.ham, j.messages.spam, j.messages.ham], [5, 6, 5, 6], 'the copy is passed over; the same message labelled ham is not');
    assert.deepEqual(j.duplicates, { spam: 1, ham: 0 });
    assert.match(moat('create', copiesDict, c.spamDir, c.hamDir).out, /learned 5 spam and 6 ham \(passed over 1 spam and 0 ham copy of messages already learned\)/);
    const all = JSON.parse(moat('create', copiesDict, c.spamDir, c.hamDir, '--json', '--no-reinforce', '--keep-duplicates').out);
    assert.deepEqual([all.learned.spam, all.messages.spam, all.duplicates.spam], [6, 6, 0]);
  });

  it('create warns when a folder gave no message of its class', () => {
    const c = writeCorpus(path.join(dir, 'one-sided'), 3);
    const emptyDir = path.join(dir, 'spamless');
    fs.mkdirSync(emptyDir);
    const r = moat('create', path.join(dir, 'one-sided.tab'), emptyDir, c.hamDir);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /learned 0 spam and 3 ham/);
    assert.match(r.err, /warning: no spam was found under .*spamless; .*one-sided\.tab cannot tell spam from ham until it learns some/);
  });

  it('score shows the probability, band and telling tokens of one message', () => {
    const f = path.join(dir, 'one.eml');
    fs.writeFileSync(f, message({ spam: true, seed: 90 }));
    const r = moat('score', dict, f);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^(0\.99\d+|1\.0+) BAYES_SPAM_99 \(\d+ tokens\)/);
    const j = JSON.parse(moat('score', dict, f, '--json', '--mode', 'extreme').out);
    assert.ok(j.probability > 0.99 && j.top.length > 0);
  });

  it('export and import round-trip MailEnable XML (counts only, the models stay behind); import --merge adds', async () => {
    const xml = path.join(dir, 'dict.xml');
    assert.equal(moat('export', dict, xml).code, 0);
    assert.match(fs.readFileSync(xml, 'utf8'), /<ENTRIES W="28" B="27">/);
    const copy = path.join(dir, 'copy.tab');
    assert.equal(moat('import', copy, xml).code, 0);
    const original = fs.readFileSync(dict, 'utf8');
    assert.match(original, /^\S+\t\d+\t\d+\t-?\d+\.\d{6}$/m, 'create fits the linear model');
    assert.match(original, /^[^\n]+\n#byte-grams\t[^\n]+\n/, 'and the byte model, on the second line');
    assert.equal(fs.readFileSync(copy, 'utf8'), original.replace(/\t-?\d+\.\d+$/gm, '').replace(/^#byte-grams\t.*\n/m, '').replace(/^#end\t\d+\n/m, ''));
    assert.equal(moat('import', copy, xml, '--merge').code, 0);
    const d = await loadDictionary(copy);
    assert.deepEqual([d.nspam, d.nham], [54, 56]);
  });

  it('prune drops rare and neutral tokens; stats reports counts and strongest tokens', () => {
    const before = JSON.parse(moat('stats', dict, '--json').out);
    const r = JSON.parse(moat('prune', dict, '--json', '--min-count', '3').out);
    assert.equal(r.tokensBefore, before.tokens);
    assert.ok(before.weighted > 0 && before.weighted <= before.tokens);
    assert.ok(r.tokensAfter < r.tokensBefore && r.tokensAfter > 0);
    const s = moat('stats', dict);
    assert.match(s.out, /27 spam and 28 ham messages, \d+ tokens \(\d+ with a weight in the linear model\)/);
    assert.match(s.out, /spammiest/);
  });

  it('import and stats say how many lines of a foreign dictionary they passed over, and where the first was', () => {
    const foreign = path.join(dir, 'foreign.tab');
    fs.writeFileSync(foreign, '10\t20\nviagra\t7\t1\nbroken\tseven\t1\nagenda\t0\t9\ntruncated\t4\n');
    const r = moat('import', path.join(dir, 'foreign-copy.tab'), foreign);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /imported 2 tokens .*; passed over 2 malformed lines \(the first: line 3\)$/m);
    const j = JSON.parse(moat('stats', foreign, '--json').out);
    assert.deepEqual([j.tokens, j.malformed], [2, { count: 2, first: 3 }]);
    assert.doesNotMatch(moat('stats', dict).out, /malformed/);
    // MailEnable on Windows writes its code page: two tokens, not one token twice.
    const latin = path.join(dir, 'latin.tab');
    fs.writeFileSync(latin, Buffer.from('5\t6\r\ncaf\xe9\t1\t2\r\ncaf\xe8\t3\t4\r\n', 'latin1'));
    const l = moat('import', path.join(dir, 'latin-copy.tab'), latin);
    assert.match(l.out, /imported 2 tokens .*; read as Windows-1252, not UTF-8$/m);
    const lj = JSON.parse(moat('stats', latin, '--json').out);
    assert.deepEqual([lj.tokens, lj.encoding, lj.malformed.count], [2, 'windows-1252', 0]);
  });

  it('import tells UTF-16 XML from UTF-16 TAB by the bytes, with or without a byte order mark, whatever the name', () => {
    const xml = '<?xml version="1.0" encoding="UTF-16"?>\r\n<ELEMENTS><ENTRIES W="3" B="4"><E W="1" B="0">café</E><E W="0" B="2">€uro</E></ENTRIES></ELEMENTS>\r\n';
    const tab = '4\t3\r\ncafé\t0\t1\r\n€uro\t2\t0\r\n';
    const le = (text: string) => Buffer.from(text, 'utf16le');
    const be = (text: string) => Buffer.from(text, 'utf16le').swap16();
    const files: Array<[string, Buffer, string]> = [
      ['xml-le-mark', le(`\ufeff${xml}`), 'UTF-16LE'], ['xml-be-mark', be(`\ufeff${xml}`), 'UTF-16BE'],
      // MailEnable's own XML may come without a mark: its first `<` as two bytes says which UTF-16 it is.
      ['xml-le', le(xml), 'UTF-16LE'], ['xml-be', be(xml), 'UTF-16BE'],
      ['tab-le-mark', le(`\ufeff${tab}`), 'UTF-16LE'], ['tab-be-mark', be(`\ufeff${tab}`), 'UTF-16BE'],
    ];
    for (const [name, bytes, encoding] of files) {
      const file = path.join(dir, `${name}.dat`);
      fs.writeFileSync(file, bytes);
      const copy = path.join(dir, `${name}-copy.tab`);
      const r = moat('import', copy, file, '--format', name.slice(0, 3));
      assert.equal(r.code, 0, `${name}: ${r.err}`);
      assert.match(r.out, new RegExp(`imported 2 tokens .*\\(4 spam, 3 ham messages\\); read as ${encoding}, not UTF-8$`, 'm'), name);
      const j = JSON.parse(moat('stats', copy, '--json').out);
      assert.deepEqual([j.messages, j.tokens], [{ spam: 4, ham: 3 }, 2], name);
    }
  });

  it('refuses numeric options that are no numbers or out of range (64), and score on a folder', () => {
    for (const args of [['verify', dict, dir, '--cutoff', 'abc'], ['verify', dict, dir, '--cutoff', '2'], ['prune', dict, '--min-count', '1.5'], ['prune', dict, '--neutral', '0.7'], ['prune', dict, '--neutral', '0.5'], ['prune', dict, '--max-tokens=-1']]) {
      const r = moat(...args);
      assert.equal(r.code, 64, args.join(' '));
      const flag = args.find((a) => a.startsWith('--'))!.replace(/=.*/, '');
      assert.match(r.err, new RegExp(`^${flag} must be a (whole )?number`));
    }
    const s = moat('score', dict, dir);
    assert.equal(s.code, 1);
    assert.match(s.err, /is a folder: score takes one message; verify scores a folder/);
  });

  it('reload writes the reload request under data_dir, and refuses a data_dir no gateway made; unknown commands are usage errors', () => {
    const dataDir = path.join(dir, 'data');
    const missing = moat('reload', '--data-dir', dataDir);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /no gateway data folder at .*data: give the gateway's --config or --data-dir/);
    assert.equal(fs.existsSync(dataDir), false, 'nothing was made');
    fs.mkdirSync(dataDir);
    assert.equal(moat('reload', '--data-dir', dataDir).code, 0);
    assert.ok(fs.existsSync(path.join(dataDir, 'bayes', 'reload')));
    assert.equal(moat('frobnicate').code, 64);
    assert.equal(moat('create', dict).code, 64);
    const bare = moat();
    assert.equal(bare.code, 64);
    assert.equal(bare.out, '');
    assert.match(bare.err, /^usage: moat bayes/);
  });

  it('refuses arguments and options a command would ignore, and folders that hold one another', () => {
    const one = path.join(dir, 'one.eml');
    fs.writeFileSync(one, message({ spam: true, seed: 91 }));
    const cases: Array<[string[], RegExp]> = [
      [['score', dict, one, one], /^score takes DICT FILE; unexpected: .*one\.eml/],
      [['verify', dict, spamDir, hamDir], /^verify takes DICT DIR; unexpected: /],
      [['create', path.join(dir, 'x.tab'), spamDir, hamDir, '--cutoff', '0.5'], /^--cutoff does not apply to create/],
      [['stats', dict, '--format', 'xml'], /^--format does not apply to stats/],
      [['create', path.join(dir, 'x.tab'), spamDir, spamDir], /^SPAMDIR and HAMDIR are the same folder/],
      [['create', path.join(dir, 'x.tab'), path.join(dir, 'train'), hamDir], /^SPAMDIR and HAMDIR must not hold one another/],
    ];
    for (const [args, why] of cases) {
      const r = moat(...args);
      assert.equal(r.code, 64, args.join(' '));
      assert.match(r.err, why);
    }
    assert.equal(fs.existsSync(path.join(dir, 'x.tab')), false);
  });

  it('create refuses to replace a dictionary with nothing; merge of nothing leaves it; both check DICT can be written before learning', () => {
    const empty = path.join(dir, 'nothing');
    fs.mkdirSync(path.join(empty, 'spam'), { recursive: true });
    fs.mkdirSync(path.join(empty, 'ham'));
    const before = fs.readFileSync(dict);
    const c = moat('create', dict, path.join(empty, 'spam'), path.join(empty, 'ham'));
    assert.equal(c.code, 1);
    assert.match(c.err, /no message was found under .*spam or .*ham; .*dict\.tab was left as it was/);
    const m = moat('merge', dict, path.join(empty, 'spam'), path.join(empty, 'ham'));
    assert.equal(m.code, 0, m.err);
    assert.match(m.out, /^nothing to merge: no message was found under /);
    assert.deepEqual(fs.readFileSync(dict), before);
    const folder = path.join(dir, 'a-folder.tab');
    fs.mkdirSync(folder);
    const d = moat('create', folder, spamDir, hamDir);
    assert.equal(d.code, 1);
    assert.match(d.err, /a-folder\.tab is a folder, not a dictionary file/);
  });

  it('prune refuses a dictionary that does not exist, and score an empty file', () => {
    const typo = path.join(dir, 'typo.tab');
    const p = moat('prune', typo);
    assert.equal(p.code, 1);
    assert.match(p.err, /typo\.tab does not exist/);
    assert.equal(fs.existsSync(typo), false);
    const blank = path.join(dir, 'blank.eml');
    fs.writeFileSync(blank, '');
    const s = moat('score', dict, blank);
    assert.equal(s.code, 1);
    assert.match(s.err, /blank\.eml is empty/);
  });

  it('create into MailEnable XML learns the counts and says the models were not fitted', async () => {
    const xml = path.join(dir, 'made.xml');
    const r = moat('create', xml, spamDir, hamDir);
    assert.equal(r.code, 0, r.err);
    assert.doesNotMatch(r.out, /fitted/);
    assert.match(r.err, /made\.xml is MailEnable XML, which holds counts alone, so the linear and byte models were not fitted/);
    const d = await loadDictionary(xml);
    assert.deepEqual([d.nspam > 0, d.hasWeights, d.byteGrams], [true, false, undefined]);
  });

  it('opens folders and files named on the command line in bytes that are not UTF-8 (Latin-1 names from Windows)', () => {
    const root = path.join(dir, 'latin1');
    fs.mkdirSync(root);
    // `caf\xe9` is "café" in Latin-1: not UTF-8, so Node's argv shows it as U+FFFD.
    const named = (base: string) => Buffer.concat([Buffer.from(`${root}/${base}-caf`), Buffer.from([0xe9])]);
    const [spamBytes, hamBytes] = [named('spam'), named('ham')];
    fs.mkdirSync(spamBytes);
    fs.mkdirSync(hamBytes);
    for (let i = 0; i < 5; i++) {
      fs.writeFileSync(Buffer.concat([spamBytes, Buffer.from(`/s${i}.eml`)]), message({ spam: true, seed: i }));
      fs.writeFileSync(Buffer.concat([hamBytes, Buffer.from(`/h${i}.eml`)]), message({ spam: false, seed: i }));
    }
    const latinDict = path.join(dir, 'latin1.tab');
    // The shell passes the bytes as they are; a Node parent would encode its strings as UTF-8.
    const run = (args: string) => {
      const r = spawnSync('bash', ['-c', `node="$0"; entry="$1"; moat() { "$node" "$entry" bayes "$@"; }; s=$(printf '%s/spam-caf\\351' "$2"); h=$(printf '%s/ham-caf\\351' "$2"); d="$3"; ${args}`,
        process.execPath, MOAT, root, latinDict], { encoding: 'utf8' });
      return { code: r.status, out: r.stdout, err: r.stderr };
    };
    const created = run('moat create "$d" "$s" "$h" --json');
    assert.equal(created.code, 0, created.err);
    assert.deepEqual(JSON.parse(created.out).learned, { spam: 5, ham: 5 });
    fs.writeFileSync(Buffer.concat([spamBytes, Buffer.from('/blank.eml')]), '');
    const verified = run('moat verify "$d" "$s" --json');
    assert.equal(verified.code, 0, verified.err);
    const lines = verified.out.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.length, 5);
    // `file` shows U+FFFD for the byte that is not UTF-8; `fileBytes` is the path itself, which a script can open.
    for (const [i, l] of lines.entries()) {
      assert.equal(l.file, `${root}/spam-caf\ufffd/s${i}.eml`);
      const opened = Buffer.from(l.fileBytes, 'base64');
      assert.deepEqual(opened, Buffer.concat([spamBytes, Buffer.from(`/s${i}.eml`)]));
      assert.equal(fs.readFileSync(opened, 'utf8'), message({ spam: true, seed: i }));
    }
    const summary = JSON.parse(verified.err).summary;
    assert.deepEqual(summary.skipped.map((k: { fileBytes: string; reason: string }) => [Buffer.from(k.fileBytes, 'base64').toString('latin1'), k.reason]),
      [[Buffer.concat([spamBytes, Buffer.from('/blank.eml')]).toString('latin1'), 'empty']]);
    const utf8 = moat('verify', dict, hamDir, '--json');
    assert.equal(utf8.code, 0, utf8.err);
    assert.ok(utf8.out.trim().split('\n').every((l) => !('fileBytes' in JSON.parse(l))), 'a UTF-8 name needs no bytes');
    const scored = run('moat score "$d" "$h/h0.eml" --json');
    assert.equal(scored.code, 0, scored.err);
    assert.ok(JSON.parse(scored.out).probability < 0.5);
    assert.equal(run('moat create "$d" "$s" "$s"').code, 64, 'the same folder twice is still refused');
  });
});
