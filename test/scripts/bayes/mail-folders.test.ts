// Reading folders of mail for `moat bayes`: mbox splitting (a chunk at a time), what is taken for a message, names
// that are not UTF-8, and files and folders that give no message (empty, not mail, a link to nothing, gone between
// listing and reading, unreadable, a link loop) noted and passed over instead of ending the run.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { describeSkipped, listSources, readMessages, splitMbox, type MailItem, type SkippedFile } from '../../../scripts/bayes/mail-folders.ts';

const MODULE = path.resolve(import.meta.dirname, '../../../scripts/bayes/mail-folders.ts');

/** A From_ line as mail programs write it. */
const fromLine = (i: number) => `From sender${i}@example.com Thu Nov 21 10:${String(i % 60).padStart(2, '0')}:00 2026`;

/** An mbox (mboxrd) of `messages`, each ending in `eol`: From_ lines, `>From ` quoting, an empty line after each. */
function mbox(messages: string[], eol = '\n'): string {
  return messages.map((m, i) => `${fromLine(i)}${eol}${m.replace(/^(>*From )/gm, '>$1')}${eol}`).join('');
}

/** A message whose body has lines an mbox must quote, and lines that look a little like From_ lines. */
function tricky(i: number, eol = '\n'): string {
  return [`Subject: message ${i}`, `Message-ID: <${i}@example.com>`, '', `body ${i}`, '', 'From my point of view, fine.', '>From the minutes', '>>From deeper', 'From 10:00 to 11:00 we meet', 'x'.repeat(i * 7), ''].join(eol);
}

const firstLines = (items: MailItem[]) => items.map((m) => m.raw.toString().split(/\r?\n/)[0]);
const reasons = (skipped: SkippedFile[]) => skipped.map((s) => [path.basename(s.file), s.reason, s.folder ?? false]);

describe('bayes mail folders', () => {
  let dir: string;
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mail-folders-')); });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const write = (name: string, data: string | Buffer) => {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), data);
  };
  const readAll = (target = dir, chunkSize?: number) => {
    const skipped: SkippedFile[] = [];
    const items = [...readMessages(listSources(target, skipped), { skipped, chunkSize })];
    return { items, skipped };
  };

  it('splits an mbox and unquotes >From lines', () => {
    const parts = splitMbox(Buffer.from(`${fromLine(1)}\nSubject: 1\n\n>From here\n\n${fromLine(2)}\nSubject: 2\n\nbody\n`));
    assert.equal(parts.length, 2);
    assert.match(parts[0].toString(), /^Subject: 1\n\nFrom here/);
  });

  it('passes over an empty file, a link to nothing and a file gone since the listing, noting each, and reads the rest', () => {
    for (const n of ['a.eml', 'c.eml', 'd.eml']) fs.writeFileSync(path.join(dir, n), `Subject: ${n}\n\nbody\n`);
    fs.writeFileSync(path.join(dir, 'b.eml'), '');
    fs.symlinkSync(path.join(dir, 'nowhere'), path.join(dir, 'link'));
    const skipped: SkippedFile[] = [];
    const sources = listSources(dir, skipped);
    assert.deepEqual(sources.map((s) => path.basename(s.file)), ['a.eml', 'b.eml', 'c.eml', 'd.eml']);
    // As a mail client does in a live Maildir: the file moves after the folder was listed.
    fs.renameSync(path.join(dir, 'c.eml'), path.join(dir, 'c.moved'));
    let files = 0;
    const read = [...readMessages(sources, { skipped, onFile: () => files++ })];
    assert.deepEqual(read.map((m) => m.raw.toString().split('\n')[0]), ['Subject: a.eml', 'Subject: d.eml']);
    assert.equal(files, 4, 'every listed file ticks once, read or not');
    assert.deepEqual(skipped.map((s) => [path.basename(s.file), s.reason]), [['link', 'broken link'], ['b.eml', 'empty'], ['c.eml', 'unreadable: ENOENT']]);
    assert.equal(describeSkipped(skipped), `skipped 3 files: 1 broken link, 1 empty, 1 unreadable: ENOENT (first: ${path.join(dir, 'link')}, broken link)`);
    assert.equal(describeSkipped([]), '');
  });

  it('still fails when the folder asked for does not exist', () => {
    assert.throws(() => listSources(path.join(dir, 'missing')), /ENOENT/);
  });

  it('reads files and folders whose names are not UTF-8 (Latin-1 from Windows), showing the name with U+FFFD', () => {
    const latin1 = (s: string) => Buffer.from(s, 'latin1');
    fs.writeFileSync(latin1(`${dir}/Re\xe7u.eml`), 'Subject: recu\n\nbody\n');
    fs.mkdirSync(latin1(`${dir}/Entr\xe9e`));
    fs.writeFileSync(latin1(`${dir}/Entr\xe9e/Fen\xeatre.eml`), 'Subject: fenetre\n\nbody\n');
    fs.writeFileSync(latin1(`${dir}/Entr\xe9e/plain.eml`), 'Subject: plain\n\nbody\n');
    write('sub/caf\u00e9.eml', 'Subject: cafe\n\nbody\n');
    const { items, skipped } = readAll();
    assert.deepEqual(skipped, []);
    assert.deepEqual(firstLines(items), ['Subject: fenetre', 'Subject: plain', 'Subject: recu', 'Subject: cafe']);
    assert.deepEqual(items.map((m) => path.relative(dir, m.name)), ['Entr\ufffde/Fen\ufffdtre.eml', 'Entr\ufffde/plain.eml', 'Re\ufffdu.eml', 'sub/caf\u00e9.eml']);
    // What opens each file that U+FFFD cannot: its path's bytes; a UTF-8 path needs none.
    assert.deepEqual(items.map((m) => m.fileBytes && Buffer.from(m.fileBytes, 'base64').toString('latin1')),
      [`${dir}/Entr\xe9e/Fen\xeatre.eml`, `${dir}/Entr\xe9e/plain.eml`, `${dir}/Re\xe7u.eml`, undefined]);
  });

  it('splits an mbox the same wherever the chunks end: in a From_ line, a >From line, an empty line, a CRLF', () => {
    for (const eol of ['\n', '\r\n']) {
      const messages = Array.from({ length: 8 }, (_, i) => tricky(i, eol));
      write('box.mbox', mbox(messages, eol));
      const expected = messages.map((m) => m + eol);
      assert.ok(expected[0].includes(`${eol}>From the minutes${eol}`) && expected[0].includes(`${eol}From my point of view`));
      for (const chunkSize of [...Array.from({ length: 90 }, (_, i) => i + 1), 127, 256, 1000, 4096, 1 << 20]) {
        const { items, skipped } = readAll(dir, chunkSize);
        assert.deepEqual(items.map((m) => m.raw.toString()), expected, `chunks of ${chunkSize} bytes, ${JSON.stringify(eol)} lines`);
        assert.deepEqual(skipped, []);
      }
    }
  });

  it('reads a large mbox a chunk at a time, never turning the file into one string', () => {
    const messages = Array.from({ length: 4000 }, (_, i) => tricky(i % 200));
    const data = mbox(messages);
    write('Inbox', data);
    assert.ok(data.length > 3e6);
    const expected = messages.map((m) => `${m}\n`);
    const sources = listSources(dir);
    // The file was turned into one string (toString('latin1')): past 512 MiB that fails, as V8 strings end there.
    const toString = Buffer.prototype.toString;
    let longest = 0;
    Buffer.prototype.toString = function (this: Buffer, ...args: Parameters<Buffer['toString']>) {
      const s = toString.apply(this, args);
      longest = Math.max(longest, s.length);
      return s;
    };
    let items: MailItem[];
    try {
      items = [...readMessages(sources, { chunkSize: 65536 })];
    } finally {
      Buffer.prototype.toString = toString;
    }
    assert.ok(longest <= 4096, `the longest string made was ${longest} characters`);
    assert.equal(items.length, 4000);
    assert.ok(items.every((m, i) => m.raw.toString() === expected[i]));
    assert.deepEqual(readAll().items.map((m) => m.raw.toString()), expected, 'and the same in chunks of 1 MiB');
  });

  it('tells how far into an mbox it has read, each share once its messages were taken, so a bar moves within one file', () => {
    write('a.eml', tricky(1));
    write('b/Inbox', mbox(Array.from({ length: 40 }, (_, i) => tricky(i))));
    const progress: Array<[number, number]> = [];
    const items: MailItem[] = [];
    for (const m of readMessages(listSources(dir), { chunkSize: 1024, onProgress: (f) => progress.push([f, items.length]) })) items.push(m);
    assert.equal(items.length, 41);
    const shares = progress.map(([f]) => f);
    assert.ok(shares.length > 5, `${shares.length} reports`);
    assert.deepEqual(shares, [...shares].sort((x, y) => x - y), 'never going back');
    assert.ok(shares[0] === 0 && shares[shares.length - 1] > 0.9 && shares[shares.length - 1] < 1);
    assert.ok(progress.every(([, before]) => before >= 1), 'a file of one message reports nothing');
    assert.ok(progress.every(([, before], i) => i === 0 || before >= progress[i - 1][1]) && progress.at(-1)![1] > 30, 'reported as messages are taken');
  });

  it('takes a From line for a new message only after an empty line and with a date, in LF and CRLF files', () => {
    const eml = (eol: string) => [fromLine(1), 'Subject: one message', '', 'Hello,', '', 'From my point of view, it is fine.', `${fromLine(2)} after a body line`, ''].join(eol);
    write('one.eml', eml('\n'));
    write('one-crlf.eml', eml('\r\n'));
    write('two.mbox', mbox([tricky(1, '\r\n'), tricky(2, '\r\n')], '\r\n'));
    const { items, skipped } = readAll();
    assert.deepEqual(skipped, []);
    assert.deepEqual(items.map((m) => path.basename(m.name)), ['one-crlf.eml#1', 'one.eml#1', 'two.mbox#1', 'two.mbox#2']);
    assert.ok(items[0].raw.toString().endsWith(`From my point of view, it is fine.\r\n${fromLine(2)} after a body line\r\n`));
    assert.match(items[3].raw.toString(), /^Subject: message 2\r\n/);
  });

  it('takes a .mbox file without any From_ line for one message', () => {
    write('saved.mbox', 'Subject: saved alone\n\n>From the minutes\nbody\n');
    const { items, skipped } = readAll();
    assert.deepEqual(skipped, []);
    assert.deepEqual(items.map((m) => [path.basename(m.name), m.raw.toString()]), [['saved.mbox#1', 'Subject: saved alone\n\nFrom the minutes\nbody\n']]);
  });

  it('passes over files that are not mail (a Thunderbird profile\'s index, filter rules, a photo), noting each', () => {
    write('Inbox', mbox([tricky(1), tricky(2)]));
    write('Inbox.msf', '// <!-- <mdb:mork:z v="1.4"/> -->\n< <(a=c)> // (f=iso-8859-1)\n');
    write('msgFilterRules.dat', 'version="9"\nlogging="no"\n');
    write('photo.jpg', Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x3a]));
    write('notes.txt', 'From my point of view: a note, not mail\n');
    // A byte order mark and empty lines before the header (Windows editors, some tools that save mail) still make a message.
    write('bom.eml', '\ufeffSubject: with a byte order mark\r\n\r\nbody\r\n');
    write('blank-first.eml', '\r\n\r\nReturn-Path: <a@example.com>\r\nSubject: after empty lines\r\n\r\nbody\r\n');
    write('mailenable/1A2B3C.MAI', 'Received: from mx.example.com\r\nSubject: MailEnable\r\n\r\nbody\r\n');
    write('Maildir/cur/1700000000.M1P2.host:2,S', 'Delivered-To: bob@example.com\nSubject: Maildir\n\nbody\n');
    write('Maildir/new/1700000001.M2P2.host', 'X-Original-To: bob@example.com\nSubject: Maildir new\n\nbody\n');
    const { items, skipped } = readAll();
    assert.deepEqual(items.map((m) => path.relative(dir, m.name)), ['Inbox#1', 'Inbox#2', 'Maildir/cur/1700000000.M1P2.host:2,S', 'Maildir/new/1700000001.M2P2.host', 'blank-first.eml', 'bom.eml', 'mailenable/1A2B3C.MAI']);
    assert.deepEqual(reasons(skipped), [['Inbox.msf', 'not a message', false], ['msgFilterRules.dat', 'not a message', false], ['notes.txt', 'not a message', false], ['photo.jpg', 'not a message', false]]);
  });

  it('reports the Maildir++ folders of a Maildir instead of learning them, and learns one when named', () => {
    for (const sub of ['cur', 'new', 'tmp', '.Junk/cur', '.Junk/new', '.Archive/cur', '.notmuch/xapian']) fs.mkdirSync(path.join(dir, sub), { recursive: true });
    write('cur/1.host:2,S', 'Subject: inbox\n\nbody\n');
    write('tmp/2.host', 'Subject: half written\n\nbody\n');
    write('.Junk/cur/3.host:2,S', 'Subject: junk\n\nbody\n');
    write('.Archive/cur/4.host:2,S', 'Subject: archived\n\nbody\n');
    for (const f of ['.DS_Store', 'dovecot.index', 'dovecot-uidlist', 'maildirfolder']) write(f, '');
    const { items, skipped } = readAll();
    assert.deepEqual(firstLines(items), ['Subject: inbox']);
    const named = 'Maildir++ folder: name it to learn it';
    assert.deepEqual(reasons(skipped), [['.Archive', named, true], ['.Junk', named, true]], 'other dot-files are passed over silently');
    assert.deepEqual(firstLines(readAll(path.join(dir, '.Junk')).items), ['Subject: junk']);
    assert.equal(describeSkipped(skipped), `skipped 2 folders: 2 ${named} (first: ${path.join(dir, '.Archive')}, ${named})`);
  });

  it('passes over a folder it may not read and a link back to a folder it is in, and reads the rest', () => {
    write('a.eml', 'Subject: a\n\nbody\n');
    write('loop/spam/b.eml', 'Subject: b\n\nbody\n');
    fs.symlinkSync('..', path.join(dir, 'loop/spam/up'));
    fs.symlinkSync('self', path.join(dir, 'self'));
    write('locked/c.eml', 'Subject: c\n\nbody\n');
    fs.chmodSync(path.join(dir, 'locked'), 0o000);
    fs.chmodSync(dir, 0o755);
    // Root reads any folder: the listing then runs as an unprivileged user, as an admin's run would.
    const asUser = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const script = `import { listSources, readMessages } from ${JSON.stringify(MODULE)};
      const skipped = []; const sources = listSources(${JSON.stringify(dir)}, skipped);
      const names = [...readMessages(sources, { skipped })].map((m) => m.name);
      console.log(JSON.stringify({ names, skipped }));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', ...asUser });
    fs.chmodSync(path.join(dir, 'locked'), 0o755);
    assert.equal(r.status, 0, r.stderr);
    const { names, skipped } = JSON.parse(r.stdout) as { names: string[]; skipped: SkippedFile[] };
    assert.deepEqual(names.map((n) => path.relative(dir, n)), ['a.eml', 'loop/spam/b.eml']);
    assert.deepEqual(reasons(skipped), [['locked', 'unreadable folder: EACCES', true], ['up', 'link loop', true], ['self', 'link loop', false]]);
    assert.equal(describeSkipped(skipped), `skipped 1 file and 2 folders: 1 unreadable folder: EACCES, 2 link loop (first: ${path.join(dir, 'locked')}, unreadable folder: EACCES)`);
  });

  it('reads a folder two links lead to once', () => {
    write('real/a.eml', 'Subject: a\n\nbody\n');
    fs.symlinkSync('real', path.join(dir, 'x-link'));
    const { items, skipped } = readAll();
    assert.deepEqual(items.map((m) => path.relative(dir, m.name)), ['real/a.eml']);
    assert.deepEqual(reasons(skipped), [['x-link', 'folder read already', true]]);
    assert.equal(describeSkipped(skipped), `skipped 1 folder: 1 folder read already (first: ${path.join(dir, 'x-link')}, folder read already)`);
  });
});
