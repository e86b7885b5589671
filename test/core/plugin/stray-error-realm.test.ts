// The message and stack of an error nobody caught, whatever realm made it: a Haraka plain plugin's errors come from
// its own vm context and are no `instanceof Error` in the gateway's.
import assert from 'node:assert/strict';
import vm from 'node:vm';
import { errorMessage, errorStack } from '../../../core/plugin/stray-errors.ts';

describe('stray errors from another realm', () => {
  it('reads the message and the stack of an error made in a vm context', () => {
    const err = vm.runInNewContext('new Error("from the sandbox")', {}, { filename: '/srv/haraka/plugins/careless.js' });
    assert.equal(err instanceof Error, false);
    assert.equal(errorMessage(err), 'from the sandbox');
    assert.match(errorStack(err), /\/srv\/haraka\/plugins\/careless\.js:1:/);
  });

  it('takes a host error, a thrown string and an object whose fields throw without throwing itself', () => {
    assert.equal(errorMessage(new TypeError('host')), 'host');
    assert.equal(errorStack('no stack at all'), '');
    assert.equal(errorMessage('no stack at all'), 'no stack at all');
    const hostile = Object.create(null, { stack: { get() { throw new Error('no'); } } });
    assert.equal(errorStack(hostile), '');
    assert.equal(errorMessage(hostile), '[object Object]');
  });
});
