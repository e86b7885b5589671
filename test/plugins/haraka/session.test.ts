// How a line Mailmoat does not know becomes the params of Haraka's unrecognized_command hook.
import assert from 'node:assert/strict';
import { unrecognizedParams } from '../../../plugins/haraka/session.ts';

describe('haraka shim: unrecognized_command params', function () {
  this.timeout(10_000);

  it('splits the verb from the rest at the first run of spaces, as Haraka does', function () {
    assert.deepEqual(unrecognizedParams('xping hello there'), ['xping', 'hello there']);
    assert.deepEqual(unrecognizedParams('XPING   two  spaces '), ['XPING', 'two  spaces ']);
    assert.deepEqual(unrecognizedParams('XDENY'), ['XDENY', '']);
    assert.deepEqual(unrecognizedParams('XDENY '), ['XDENY', '']);
    assert.deepEqual(unrecognizedParams(''), ['', '']);
  });

  it('passes the whole line alone when a line break follows the first space, as Haraka does', function () {
    assert.deepEqual(unrecognizedParams('X a\rb'), ['X a\rb']);
    assert.deepEqual(unrecognizedParams('X \u2028'), ['X \u2028']);
    assert.deepEqual(unrecognizedParams('X\rY Z'), ['X\rY', 'Z']); // a break inside the verb is part of it
  });

  it('answers at once for a verb, 100,000 spaces and a carriage return', function () {
    const line = `X${' '.repeat(100_000)}\r`;
    assert.deepEqual(unrecognizedParams(line), [line]);
    const sep = `X${' '.repeat(100_000)}\u2028`;
    assert.deepEqual(unrecognizedParams(sep), [sep]);
  });
});
