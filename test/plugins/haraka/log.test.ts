// The shim's reading of Haraka's log arguments.
import assert from 'node:assert/strict';
import vm from 'node:vm';
import { formatArgs } from '../../../plugins/haraka/log.ts';

describe('haraka shim log arguments', () => {
  it('logs the message and stack of an error thrown in a plain plugin\'s own realm', () => {
    // What the runner logs when a plain plugin's hook throws: the error comes from the plugin's vm context.
    const err = vm.runInNewContext('(() => { try { null.x } catch (e) { return e } })()');
    assert.equal(err instanceof Error, false, 'the error is from another realm');
    const { text } = formatArgs(null, ['Plugin show_results failed:', err]);
    assert.match(text, /^Plugin show_results failed: TypeError: Cannot read properties of null/);
  });

  it('keeps the fields of a plain object and the message of a host error', () => {
    const { text, fields } = formatArgs(null, [new RangeError('too far'), { zone: 'dbl.test' }]);
    assert.match(text, /^RangeError: too far/);
    assert.deepEqual(fields, { zone: 'dbl.test' });
  });
});
