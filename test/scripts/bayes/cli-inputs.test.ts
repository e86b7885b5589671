// `moat bayes` on awkward input, through the real entry point: files where folders are expected and the reverse,
// missing and damaged dictionaries, mboxes given to `score`, dictionaries with odd tokens; and what each command
// promises of its output (one error line, JSON lines only on stdout) and of the files it writes (merge adds, prune
// drops what it says, export and import round-trip).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { message, writeCorpus } from '../../plugins/bayes/fixtures.ts';
import { loadDictionary } from '../../../plugins/bayes/engine/persist.ts';
import { DEFAULT_SCORING, tokenProbability } from '../../../plugins/bayes/engine/classify.ts';
import type { Dictionary } from '../../../plugins/bayes/engine/dictionary.ts';

const MOAT = path.resolve(import.meta.dirname, '../../../scripts/moat.js');
const COMMANDS = ['create', 'merge', 'verify', 'score', 'prune', 'reload', 'stats', 'export', 'import'];
// Training options that keep a dictionary's counts those of the messages alone (no pass learns a message again).
const COUNTS_ONLY = ['--no-reinforce', '--no-linear', '--no-byte-grams'];

function moat(...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [MOAT, 'bayes', ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** An mbox of `n` messages (mboxrd: From_ lines, an empty line after each). */
function mbox(n: number, spam: boolean, first = 0): string {
  let text = '';
  for (let i = first; i < first + n; i++) text += `From sender${i}@example.com Thu Nov 21 10:00:00 2026\n${message({ spam, seed: i }).replace(/\r\n/g, '\n')}\n`;
  return text;
}

/** Each token's spam and ham counts. */
function countsOf(d: Dictionary): Map<string, [number, number]> {
  return new Map([...d.entries()].map((e) => [e.token, [e.spam, e.ham]]));
}

/** Asserts a failure the way an admin should see it: exit 1, nothing on stdout, one line on stderr, no stack. */
function assertOneLineError(r: { code: number | null; out: string; err: string }, why: RegExp): void {
  assert.equal(r.code, 1, r.err);
  assert.equal(r.out, '');
  assert.equal(r.err.trimEnd().split('\n').length, 1, r.err);
  assert.match(r.err, why);
}

describe('moat bayes on awkward input', function () {
  this.timeout(30_000);
  let dir: string;
  let dict: string;
  let spamDir: string;
  let hamDir: string;
  const at = (name: string) => path.join(dir, name);

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-cli-inputs-'));
    ({ spamDir, hamDir } = writeCorpus(at('train'), 10));
    dict = at('dict.tab');
    assert.equal(moat('create', dict, spamDir, hamDir).code, 0);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('takes --help on every command, and refuses an option no command has (64, the reason first)', () => {
    for (const cmd of COMMANDS) {
      const help = moat(cmd, '--help');
      assert.deepEqual([help.code, help.err], [0, ''], cmd);
      assert.match(help.out, /^usage: moat bayes <command>/);
    }
    // Options are read before the command is looked at: one command of each kind stands for the rest.
    for (const cmd of ['create', 'verify', 'reload']) {
      const bogus = moat(cmd, '--bogus');
      assert.equal(bogus.code, 64, cmd);
      assert.match(bogus.err, /^Unknown option '--bogus'/);
    }
  });

  it('prints only JSON objects, one per line, on stdout with --json', () => {
    const one = at('json.eml');
    fs.writeFileSync(one, message({ spam: true, seed: 5 }));
    fs.mkdirSync(at('data'));
    const runs = [
      ['create', at('json.tab'), spamDir, hamDir], ['merge', at('json.tab'), spamDir, hamDir], ['verify', dict, spamDir],
      ['score', dict, one], ['stats', dict], ['export', dict, at('json.xml')], ['import', at('json-copy.tab'), at('json.xml')],
      ['prune', at('json-copy.tab')], ['reload', '--data-dir', at('data')],
    ];
    for (const args of runs) {
      const r = moat(...args, '--json');
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.err}`);
      const lines = r.out.trimEnd().split('\n');
      assert.equal(lines.length, args[0] === 'verify' ? 10 : 1, args[0]);
      for (const line of lines) assert.equal(typeof JSON.parse(line), 'object', line);
    }
  });

  it('fails in one line naming the argument: a missing or damaged dictionary, a folder for a file, a file for a folder', () => {
    const damaged = at('damaged.tab');
    fs.writeFileSync(damaged, 'viagra\t7\t1\n');
    const under = at('dict.tab/new.tab');
    const cases: Array<[string[], RegExp]> = [
      [['stats', at('missing.tab')], /^moat bayes stats: .*missing\.tab does not exist$/m],
      [['stats', spamDir], /^moat bayes stats: .*spam is a folder, not a dictionary file$/m],
      [['verify', dict, at('no-such-dir')], /^moat bayes verify: .*no-such-dir does not exist$/m],
      [['prune', hamDir], /is a folder, not a dictionary file/],
      [['export', dict, hamDir], /ham is a folder, not a dictionary file/],
      [['import', at('copy.tab'), hamDir], /ham is a folder, not a dictionary file/],
      [['import', at('copy.tab'), damaged], /damaged\.tab: not a TAB dictionary: line 1/],
      // With no pass to judge by it, the merge would read DICT only once it came to write it.
      [['merge', damaged, spamDir, hamDir, ...COUNTS_ONLY], /damaged\.tab: not a TAB dictionary: line 1/],
      [['create', under, spamDir, hamDir], /cannot write .*dict\.tab\/new\.tab: .*dict\.tab is a file, not a folder/],
      [['export', dict, under], /dict\.tab is a file, not a folder/],
    ];
    for (const [args, why] of cases) assertOneLineError(moat(...args), why);
    assert.equal(fs.readFileSync(damaged, 'utf8'), 'viagra\t7\t1\n');
  });

  it('score refuses a file that is no message and an mbox of several, and scores the message of an mbox of one', () => {
    const photo = at('photo.eml');
    fs.writeFileSync(photo, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 0x4a, 0x46, 0x49, 0x46]));
    assertOneLineError(moat('score', dict, photo), /photo\.eml is not a message: it starts with neither a header field nor a From_ line/);
    const several = at('several.mbox');
    fs.writeFileSync(several, mbox(3, true));
    assertOneLineError(moat('score', dict, several), /several\.mbox holds several messages \(an mbox\): score takes one message; verify scores each/);
    const single = at('single');
    fs.writeFileSync(single, mbox(1, true, 30));
    const s = moat('score', dict, single, '--json');
    assert.equal(s.code, 0, s.err);
    assert.ok(JSON.parse(s.out).probability > 0.99);
    // A file in place of a folder is read as verify reads any file: an mbox is each of its messages.
    const v = moat('verify', dict, several, '--json');
    assert.deepEqual(v.out.trimEnd().split('\n').map((l) => JSON.parse(l).file), [1, 2, 3].map((n) => `${several}#${n}`));
  });

  it('merge adds its counts to each token the dictionary has; create from mbox files in place of folders', async () => {
    const base = at('base.tab');
    const alone = at('alone.tab');
    const merged = at('merged.tab');
    const more = writeCorpus(at('more'), 4, 20);
    assert.equal(moat('create', base, spamDir, hamDir, ...COUNTS_ONLY).code, 0);
    fs.copyFileSync(base, merged);
    fs.writeFileSync(at('more/spam.mbox'), mbox(3, true, 40));
    assert.equal(moat('merge', merged, more.spamDir, more.hamDir, ...COUNTS_ONLY).code, 0);
    const fromMbox = moat('create', alone, at('more/spam.mbox'), more.hamDir, ...COUNTS_ONLY, '--json');
    assert.deepEqual(JSON.parse(fromMbox.out).learned, { spam: 3, ham: 4 });
    assert.equal(moat('create', alone, more.spamDir, more.hamDir, ...COUNTS_ONLY).code, 0);
    const [a, b, m] = await Promise.all([base, alone, merged].map((f) => loadDictionary(f)));
    const [ca, cb] = [countsOf(a), countsOf(b)];
    const expected = new Map(ca);
    for (const [t, [s, h]] of cb) expected.set(t, [s + (ca.get(t)?.[0] ?? 0), h + (ca.get(t)?.[1] ?? 0)]);
    assert.deepEqual(countsOf(m), expected);
    assert.deepEqual([m.nspam, m.nham], [a.nspam + b.nspam, a.nham + b.nham]);
  });

  it('prune drops exactly the rare and the neutral tokens, and keeps the rest as they were', async () => {
    const pruned = at('pruned.tab');
    fs.copyFileSync(dict, pruned);
    const before = await loadDictionary(dict);
    const r = JSON.parse(moat('prune', pruned, '--min-count', '4', '--neutral', '0.3', '--json').out);
    const after = await loadDictionary(pruned);
    const kept = [...before.entries()].filter((e) => e.spam + e.ham >= 4
      && Math.abs(tokenProbability(e.spam, e.ham, before.nspam, before.nham, DEFAULT_SCORING) - 0.5) >= 0.3);
    assert.ok(kept.length > 0 && kept.length < before.size);
    assert.deepEqual([...after.entries()], kept);
    assert.deepEqual([r.tokensBefore, r.tokensAfter], [before.size, kept.length]);
    assert.deepEqual(after.byteGrams?.state, before.byteGrams?.state, 'the byte model stays');
  });

  it('round-trips odd tokens through XML and TAB exactly; stats and import count only tokens with counts', () => {
    const xml = at('odd.xml');
    fs.writeFileSync(xml, ['<?xml version="1.0" encoding="UTF-8"?>', '<ELEMENTS>', '<ENTRIES W="10" B="20">',
      '<E W="1" B="2">a&amp;b</E>', '<E W="1" B="2">&lt;tag&gt;</E>', '<E W="3" B="4">two words</E>', '<E W="3" B="4">tab&#9;inside</E>',
      '<E W="5" B="6">caf&#233;</E>', '<E W="0" B="0">zero</E>', '<E W="7" B="8">#hash</E>', '</ENTRIES>', '</ELEMENTS>', ''].join('\n'));
    const tab = at('odd.tab');
    const imported = moat('import', tab, xml, '--json');
    assert.equal(imported.code, 0, imported.err);
    assert.deepEqual(JSON.parse(imported.out).imported, 5);
    assert.deepEqual(JSON.parse(imported.out).malformed, { count: 1, first: 7 });
    assert.equal(fs.readFileSync(tab, 'utf8'), '20\t10\na&b\t2\t1\n<tag>\t2\t1\ntwo words\t4\t3\ntab_inside\t4\t3\ncafé\t6\t5\n');
    assert.equal(JSON.parse(moat('stats', xml, '--json').out).tokens, 5);
    for (const format of ['xml', 'tab']) {
      const out = at(`again.${format}`);
      const back = at(`back.${format}`);
      assert.equal(moat('export', tab, out).code, 0);
      assert.equal(moat('import', back, out).code, 0);
      assert.deepEqual(fs.readFileSync(back), fs.readFileSync(out), format);
    }
    assert.match(fs.readFileSync(at('again.xml'), 'utf8'), /<E W="1" B="2">a&amp;b<\/E>\n<E W="1" B="2">&lt;tag&gt;<\/E>/);
  });

  it('export refuses to write over DICT itself, --with-weights into XML and a format its name contradicts; reload refuses two places to tell', () => {
    const before = fs.readFileSync(dict);
    const same = moat('export', dict, `${dir}/./dict.tab`);
    assert.equal(same.code, 64);
    assert.match(same.err, /^FILE is DICT itself/);
    assert.deepEqual(fs.readFileSync(dict), before, 'the models are still in DICT');
    const xml = moat('export', dict, at('w.xml'), '--with-weights');
    assert.equal(xml.code, 64);
    assert.match(xml.err, /^--with-weights applies to TAB/);
    assert.equal(fs.existsSync(at('w.xml')), false);
    const misnamed = moat('export', dict, at('m.xml'), '--format', 'tab');
    assert.equal(misnamed.code, 64);
    assert.match(misnamed.err, /^FILE .*m\.xml is named \.xml but --format is tab/);
    assert.equal(fs.existsSync(at('m.xml')), false);
    const both = moat('reload', '--config', at('x.yaml'), '--data-dir', dir);
    assert.equal(both.code, 64);
    assert.match(both.err, /^reload takes --config FILE \(and --set\) or --data-dir DIR, not both/);
    const setToo = moat('reload', '--set', 'data_dir=/x', '--data-dir', dir);
    assert.equal(setToo.code, 64, 'a --set beside --data-dir would be ignored');
  });

  it('verify prints each message as it is scored, not all of them at the end', async () => {
    const many = at('many');
    fs.mkdirSync(many);
    for (let i = 0; i < 1500; i++) fs.writeFileSync(path.join(many, `m${i}.eml`), message({ spam: i % 2 === 0, seed: i }));
    const child = spawn(process.execPath, [MOAT, 'bayes', 'verify', dict, many], { stdio: ['ignore', 'pipe', 'ignore'] });
    let seen = '';
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (chunk: Buffer) => { seen += chunk; child.kill(); });
      child.on('close', () => resolve());
    });
    assert.match(seen, /^\d\.\d{4} {2}.*m0\.eml\n/);
    assert.ok(seen.split('\n').length < 1500, 'stopped long before the last message');
    assert.doesNotMatch(seen, /1500 messages/);
  });
});
