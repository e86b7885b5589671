// The verdict: scores summed, the highest threshold reached wins, a forced quarantine is never lowered.
import assert from 'node:assert/strict';
import { decideVerdict, verdictHeaderValue } from '../../../core/verdict/verdict.ts';
import type { Finding } from '../../../core/verdict/types.ts';

const scores = { add_header: 5, quarantine: 10, reject: 15, tempfail: undefined, levels: { low: 5, medium: 8, high: 12 }, subject_tag: '', max_per_plugin: {}, reject_text: '', tempfail_text: '' };
const f = (symbol: string, score: number): Finding => ({ symbol, score, plugin: 'test' });

describe('verdict', () => {
  const table: Array<[number[], string, string]> = [
    [[], 'accept', 'None'], [[2, 2.5], 'accept', 'None'], [[3, 2], 'add_header', 'Low'], [[9], 'add_header', 'Medium'],
    [[10], 'quarantine', 'Medium'], [[12.5], 'quarantine', 'High'], [[10, 5], 'reject', 'High'], [[20, -6], 'quarantine', 'High'], [[20, -14], 'add_header', 'Low'],
  ];
  for (const [s, action, level] of table) {
    it(`scores ${JSON.stringify(s)} → ${action} (${level})`, () => {
      const v = decideVerdict(s.map((x, i) => f(`S${i}`, x)), scores);
      assert.equal(v.action, action);
      assert.equal(v.level, level);
    });
  }
  it('keeps a plugin-forced quarantine even with a low score, but a reject score wins', () => {
    assert.equal(decideVerdict([f('A', 1)], scores, { action: 'quarantine', reason: 'clamav' }).action, 'quarantine');
    assert.equal(decideVerdict([f('A', 16)], scores, { action: 'quarantine', reason: 'clamav' }).action, 'reject');
  });
  it('explains itself in one header value', () => {
    const v = decideVerdict([f('RBL_X', 3), f('BAYES_SPAM_99', 4.5)], scores);
    assert.equal(verdictHeaderValue(v), 'add_header; score=7.5; required=15; level=Low; symbols=RBL_X(3) BAYES_SPAM_99(4.5)');
  });
  it('names the reason of a plugin-forced action, quoted, ASCII and cut, and not that of a score', () => {
    const v = decideVerdict([], scores, { action: 'quarantine', reason: 'rule likely-spam: "bayes" says spam; überall\r\nX-Forged: 1' });
    assert.equal(verdictHeaderValue(v), 'quarantine; score=0; level=None; reason="rule likely-spam: \\"bayes\\" says spam; berall X-Forged: 1"');
    const long = decideVerdict([], scores, { action: 'quarantine', reason: 'x'.repeat(500) });
    assert.equal(/reason="(x+)\.\.\."$/.exec(verdictHeaderValue(long))?.[1].length, 157);
    assert.equal(verdictHeaderValue(decideVerdict([f('A', 16)], scores, { action: 'quarantine', reason: 'clamav' })).includes('reason='), false);
  });
  it('a null threshold is off', () => {
    assert.equal(decideVerdict([f('A', 100)], { ...scores, reject: undefined, quarantine: undefined }).action, 'add_header');
  });
});
