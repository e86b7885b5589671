// The shim's reading of Haraka's log arguments, and its log_level option.
import assert from 'node:assert/strict';
import vm from 'node:vm';
import { formatArgs } from '../../../plugins/haraka/log.ts';
import harakaPlugin from '../../../plugins/haraka/index.ts';
import type { Issue } from '../../../core/index.ts';

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

describe('haraka log_level option', () => {
  const parse = (log_level: unknown) => {
    const issues: Issue[] = [];
    harakaPlugin.configSchema.parse({ dir: '/tmp/no-such-haraka-folder', log_level }, 'plugins[0]', issues);
    return issues.filter((i) => i.path === 'plugins[0].log_level');
  };

  it('takes Haraka\'s level names in any case, with or without LOG', () => {
    for (const level of ['DATA', 'info', 'LOGdebug', 'emerg']) assert.deepEqual(parse(level), [], level);
  });

  it('refuses a level Haraka does not know, naming the ones it does, instead of falling back to WARN', () => {
    const [issue] = parse('VERBOSE');
    assert.match(issue.message, /is not a Haraka log level \(one of DATA, PROTOCOL, DEBUG, INFO, NOTICE, WARN, ERROR, CRIT, ALERT, EMERG\)/);
  });
});
