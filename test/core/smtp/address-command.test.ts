// Splitting a MAIL FROM or RCPT TO line into its path and parameters with quoted local parts kept whole (pure logic).
import assert from 'node:assert/strict';
import { shieldQuotedSpaces, splitPathAndParams } from '../../../core/smtp/address-command.ts';
import { rawParams } from '../../../core/smtp/envelope-params.ts';

describe('paths with quoted local parts', () => {
  it('splits the path from the parameters at the closing bracket, not at a quoted space', () => {
    assert.deepEqual(splitPathAndParams('<"a b"@b.example> SIZE=10  BODY=8BITMIME'), { path: '<"a b"@b.example>', params: ['SIZE=10', 'BODY=8BITMIME'] });
    assert.deepEqual(splitPathAndParams(' <"a > b"@b.example>'), { path: '<"a > b"@b.example>', params: [] });
    assert.deepEqual(splitPathAndParams('<"a \\" b"@b.example> X'), { path: '<"a \\" b"@b.example>', params: ['X'] });
    assert.deepEqual(splitPathAndParams('<a@b.example>'), { path: '<a@b.example>', params: [] });
    // No closing bracket: split as smtp-server splits it, so its own 501 follows.
    assert.deepEqual(splitPathAndParams('<"a b@b.example'), { path: '<"a', params: ['b@b.example'] });
  });

  it('reads the parameters of a line whose path has a quoted space', () => {
    assert.deepEqual(rawParams('MAIL FROM:<"a b"@b.example> SIZE=10', 'MAIL FROM'), [{ name: 'SIZE', value: '10' }]);
    assert.deepEqual(rawParams('RCPT TO:<"a b"@b.example>', 'RCPT TO'), []);
  });

  it('shields quoted spaces for a parser that splits at spaces, and gives them back', () => {
    const s = shieldQuotedSpaces('MAIL FROM:<"a b  c"@b.example> SIZE=1')!;
    assert.ok(!/"a b/.test(s.line));
    assert.match(s.line, /> SIZE=1$/);
    const local = s.line.slice(s.line.indexOf('<') + 1, s.line.indexOf('@'));
    assert.equal(s.restore(local), '"a b  c"');
    assert.equal(shieldQuotedSpaces('MAIL FROM:<a@b.example> SIZE=1'), undefined);
    assert.equal(shieldQuotedSpaces('MAIL FROM:<"ab"@b.example>'), undefined);
  });

  it('never picks a stand-in character the line already holds', () => {
    const s = shieldQuotedSpaces('RCPT TO:<"a b\ue000"@b.example>')!;
    const local = s.line.slice(s.line.indexOf('<') + 1, s.line.indexOf('@'));
    assert.equal(s.restore(local), '"a b\ue000"');
  });
});
