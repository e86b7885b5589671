// What a script may return: checked into findings, headers and an action, or refused with the reason.
import assert from 'node:assert/strict';
import { checkResult } from '../../../plugins/scripts/result.ts';
import { cutDocumentedFields, largestField, oneLineText } from '../../../plugins/scripts/result-cuts.ts';

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

  it('cuts a detail and an action text as the gateway\'s check does, so that the check finds the same result', () => {
    const original = { findings: [{ symbol: 'A', score: 1, detail: ' x\r\n'.repeat(150) }], action: { type: 'reject', text: 'y'.repeat(300) } };
    const cut = structuredClone(original);
    cutDocumentedFields(cut);
    assert.equal(cut.findings[0].detail, 'x  '.repeat(67).slice(0, 200).trimEnd());
    assert.equal(cut.action.text, 'y'.repeat(200));
    assert.deepEqual(checkResult(cut), checkResult(original));
    // What is not text is left for the check to name.
    const odd = { findings: ['not a finding', { symbol: 'B', score: 1, detail: 3 }], action: 'reject' };
    cutDocumentedFields(odd);
    assert.deepEqual(odd, { findings: ['not a finding', { symbol: 'B', score: 1, detail: 3 }], action: 'reject' });
    for (const text of ['a'.repeat(199) + ' b', ' \u00e9 x ', 'z'.repeat(500)]) assert.equal(oneLineText(oneLineText(text, 200), 200), oneLineText(text, 200));
  });

  it('names where most of a too-large result is: the deepest part holding more than half of its parent', () => {
    const big = 'x'.repeat(70_000);
    assert.deepEqual(largestField({ addHeaders: [{ name: 'X-A', value: 'a' }, { name: 'X-B', value: big }] }), { path: 'addHeaders[1].value', chars: 70_002 });
    // Spread over many entries, the list itself is named.
    assert.equal(largestField({ addHeaders: Array.from({ length: 20 }, (_, i) => ({ name: `X-${i}`, value: 'y'.repeat(4000) })) }).path, 'addHeaders');
    assert.equal(largestField({ findings: [], note: big }).path, 'note');
    assert.equal(largestField(big).path, 'the result');
  });
});
