// Reading folders of mail for `moat bayes`: mbox splitting, and files that give no message (empty, a link to
// nothing, gone between listing and reading) noted and passed over instead of ending the run.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describeSkipped, listSources, readMessages, splitMbox, type SkippedFile } from '../../../scripts/bayes/mail-folders.ts';

describe('bayes mail folders', () => {
  let dir: string;
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mail-folders-')); });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('splits an mbox and unquotes >From lines', () => {
    const parts = splitMbox(Buffer.from('From a\nSubject: 1\n\n>From here\n\nFrom b\nSubject: 2\n\nbody\n'));
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
});
