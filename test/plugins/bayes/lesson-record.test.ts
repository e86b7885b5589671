// The record of which quarantined messages a dictionary learned, and as what: bounded, kept in a file across restarts,
// and a damaged file moved aside rather than read wrong or written over.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LessonRecord, tokensDigest } from '../../../plugins/bayes/lesson-record.ts';

describe('bayes lesson record', () => {
  const dirs: string[] = [];
  const fileIn = () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bayes-record-'));
    dirs.push(dir);
    return path.join(dir, 'd.tab.lessons');
  };
  afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });

  it('keeps the newest entries up to its bound, and a re-recorded message counts as new', async () => {
    const { record } = await LessonRecord.open(fileIn(), 3);
    for (const q of ['q1', 'q2', 'q3']) record.set(q, { spam: true, digest: 'x' });
    record.set('q1', { spam: false, digest: 'x' });
    record.set('q4', { spam: true, digest: 'y' });
    assert.equal(record.size, 3);
    assert.equal(record.get('q2'), undefined, 'the oldest went');
    assert.deepEqual(record.get('q1'), { spam: false, digest: 'x' });
  });

  it('is written when it changed and read back after a restart, order and all', async () => {
    const file = fileIn();
    const { record } = await LessonRecord.open(file, 2);
    record.set('a', { spam: true, digest: 'd1' });
    record.set('b', { spam: false, digest: 'd2' });
    await record.save();
    const again = (await LessonRecord.open(file, 2)).record;
    assert.deepEqual([again.get('a'), again.get('b')], [{ spam: true, digest: 'd1' }, { spam: false, digest: 'd2' }]);
    again.set('c', { spam: true, digest: 'd3' });
    assert.equal(again.get('a'), undefined, 'order kept: a was the oldest');
    again.delete('b');
    await again.save();
    assert.equal(readFileSync(file, 'utf8'), '#mailmoat-bayes-lessons 1\nc\ts\td3\n');
  });

  it('moves a file that is not a record aside and starts empty', async () => {
    const file = fileIn();
    writeFileSync(file, 'not a record\n');
    const { record, damaged } = await LessonRecord.open(file);
    assert.equal(record.size, 0);
    assert.equal(damaged, `${file}.damaged`);
    assert.equal(readFileSync(`${file}.damaged`, 'utf8'), 'not a record\n');
    assert.equal(existsSync(file), false);
  });

  it('knows a message by the set of its tokens', () => {
    assert.equal(tokensDigest(['b', 'a']), tokensDigest(['a', 'b']));
    assert.notEqual(tokensDigest(['a', 'b']), tokensDigest(['a', 'c']));
  });
});
