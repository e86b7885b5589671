// What a script may return: checked into findings, headers and an action, or refused with the reason.
import assert from 'node:assert/strict';
import { checkResult } from '../../../plugins/scripts/result.ts';

const error = (v: unknown) => { const r = checkResult(v); assert.equal(r.ok, false, JSON.stringify(v)); return (r as { error: string }).error; };

describe('plugins/scripts result check', () => {
  it('takes nothing as nothing, prefixes symbols with SCRIPT_, and gives actions their default codes', () => {
    assert.deepEqual(checkResult(null), { ok: true, result: { findings: [], addHeaders: [], removeHeaders: [] } });
    const r = checkResult({
      findings: [{ symbol: 'bad_words', score: 2.5, detail: 'line\r\nbreak' }, { symbol: 'SCRIPT_X', score: -1 }],
      addHeaders: [{ name: 'X-Checked', value: 'yes' }], removeHeaders: ['X-Spam-Flag'],
      action: { type: 'reject' },
    });
    assert.deepEqual(r, { ok: true, result: {
      findings: [{ symbol: 'SCRIPT_BAD_WORDS', score: 2.5, detail: 'line break' }, { symbol: 'SCRIPT_X', score: -1 }],
      addHeaders: [{ name: 'X-Checked', value: 'yes' }], removeHeaders: ['X-Spam-Flag'],
      action: { type: 'reject', code: 550, enhanced: '5.7.1', text: 'Message refused by a content filter' },
    } });
    assert.deepEqual((checkResult({ action: { type: 'tempfail', text: 'later' } }) as { result: { action: unknown } }).result.action,
      { type: 'tempfail', code: 451, enhanced: '4.7.1', text: 'later' });
  });

  it('refuses bad shapes with the key that is wrong', () => {
    assert.match(error([1]), /returned a list/);
    assert.match(error({ finding: [] }), /unknown key "finding"/);
    assert.match(error({ findings: [{ symbol: 'a b', score: 1 }] }), /findings\[0\]\.symbol/);
    assert.match(error({ findings: [{ symbol: 'A', score: 1e9 }] }), /findings\[0\]\.score/);
    assert.match(error({ findings: Array(51).fill({ symbol: 'A', score: 1 }) }), /51 entries; at most 50/);
    assert.match(error({ addHeaders: [{ name: 'X-A', value: 'a\r\nBcc: x@y' }] }), /addHeaders\[0\]\.value/);
    assert.match(error({ addHeaders: [{ name: 'X A', value: 'a' }] }), /addHeaders\[0\]\.name/);
    assert.match(error({ removeHeaders: ['x-mailmoat-verdict'] }), /gateway's own/);
    assert.match(error({ action: { type: 'bounce' } }), /action\.type must be one of/);
    assert.match(error({ action: { type: '__proto__' } }), /action\.type must be one of/);
    assert.match(error({ action: { type: 'reject', code: 451 } }), /action\.code of reject must be one of 550, 552, 554/);
    assert.match(error({ action: { type: 'quarantine', code: 250 } }), /not used with quarantine/);
  });
});
