// The throttle of lines anyone can cause (flood warnings, refused links): the first few of a window as they come, the
// rest counted into one line at the window's end, and while the flood goes on one line per window. Pure logic: its
// lines are collected, its window is short.
import assert from 'node:assert/strict';
import { ThrottledLog, OTHER_KEY } from '../../../core/http/throttled-log.ts';
import { waitFor } from '../../helpers/wait-for.ts';

type Written = { line?: Record<string, unknown>; summary?: { held: number; byKey: Record<string, number> } };

function collecting(opts: { free: number; perKey?: boolean }): { log: ThrottledLog; written: Written[] } {
  const written: Written[] = [];
  const log = new ThrottledLog({
    ...opts, windowMs: 200,
    line: (f) => written.push({ line: f }),
    summary: (held, byKey) => written.push({ summary: { held, byKey: Object.fromEntries(byKey) } }),
  });
  return { log, written };
}

describe('ThrottledLog', () => {
  it('writes the window\'s first lines, counts the rest by key, and sums them up when the window ends', async () => {
    const { log, written } = collecting({ free: 2 });
    for (let i = 0; i < 7; i++) log.note(i % 2 ? 'b' : 'a', { i });
    assert.deepEqual(written, [{ line: { i: 0 } }, { line: { i: 1 } }]);
    await waitFor('the summary', () => written[2]);
    assert.deepEqual(written[2], { summary: { held: 5, byKey: { a: 3, b: 2 } } });
    // The flood goes on: the next window's only line is its summary.
    log.note('a', { i: 7 });
    log.note('a', { i: 8 });
    assert.equal(written.length, 3);
    await waitFor('the next summary', () => written[3]);
    assert.deepEqual(written[3], { summary: { held: 2, byKey: { a: 2 } } });
    log.close();
    assert.equal(written.length, 4, 'nothing held at the close: no line');
  });

  it('perKey: each key has its free lines, so one flood does not hide the first of another', () => {
    const { log, written } = collecting({ free: 2, perKey: true });
    for (let i = 0; i < 5; i++) log.note('bad signature', { i });
    log.note('revoked', { i: 5 });
    assert.deepEqual(written.map((w) => w.line?.i), [0, 1, 5]);
    log.close();
    assert.deepEqual(written[3], { summary: { held: 3, byKey: { 'bad signature': 3 } } }, 'close writes what was held');
  });

  it('counts past 100 keys under one, so a flood from many sources stays one short line', () => {
    const { log, written } = collecting({ free: 0 });
    for (let i = 0; i < 150; i++) log.note(`client ${i}`, {});
    log.close();
    const { held, byKey } = written[0].summary!;
    assert.equal(held, 150);
    assert.equal(Object.keys(byKey).length, 101);
    assert.equal(byKey[OTHER_KEY], 50);
  });
});
