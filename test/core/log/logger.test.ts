// The logger masks fields named like secrets before a line is written, and only those: a count called `tokens`
// (the bayes plugin's dictionary size) is no secret and stays readable.
import assert from 'node:assert/strict';
import { JsonLogger, redactUrl } from '../../../core/log/logger.ts';
import type { LogFields } from '../../../core/log/types.ts';

function logged(fields: LogFields): Record<string, unknown> {
  const lines: string[] = [];
  const log = new JsonLogger({ format: 'json', sink: { write: (l) => { lines.push(l); } } });
  log.info('test', fields);
  return JSON.parse(lines[0]);
}

describe('logger redaction', () => {
  it('masks passwords, secrets, credentials, authorization, keys and auth tokens', () => {
    const secrets = {
      password: 'hunter2', pass: 'p', smtp_pass: 'p', secret: 's', client_secret: 's', authorization: 'Basic eA==',
      credentials: { user: 'u', pass: 'p' }, token: 'abc', auth_token: 'abc', accessToken: 'abc', api_key: 'k', apiKey: 'k',
      API_KEY: 'k', key: 'k', 'private-key': 'k', tokens: ['abc', 'def'],
    };
    const out = logged(secrets);
    for (const k of Object.keys(secrets)) assert.equal(out[k], '[redacted]', k);
  });

  it('masks a numeric password but shows a count named tokens, and leaves other fields alone', () => {
    const out = logged({ password: 12345, tokens: 827857, keys: 3, monkey: 'm', keyword: 'w', dictionary: '/d.tab', spam: 1 });
    assert.equal(out.password, '[redacted]');
    assert.equal(out.tokens, 827857);
    assert.deepEqual([out.keys, out.monkey, out.keyword, out.dictionary, out.spam], [3, 'm', 'w', '/d.tab', 1]);
  });

  it('masks fields of a child logger and the text format alike', () => {
    const lines: string[] = [];
    const log = new JsonLogger({ format: 'text', sink: { write: (l) => { lines.push(l); } } }).child({ token: 'base-secret' });
    log.info('bayes dictionary loaded', { tokens: 42, password: 'x' });
    assert.match(lines[0], /token=\[redacted\]/);
    assert.match(lines[0], /tokens=42/);
    assert.match(lines[0], /password=\[redacted\]/);
    assert.doesNotMatch(lines[0], /base-secret/);
  });

  it('removes the password from a URL', () => {
    assert.equal(redactUrl('smtp://user:pw@relay.example:25'), 'smtp://user:***@relay.example:25');
  });
});
