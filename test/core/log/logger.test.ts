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
    const out = logged({ password: 12345, tokens: 827857, keys: 3, monkey: 'm', keyword: 'w', dictionary: '/d.tab', spam: 1, after_passes: 2, passed: true, SMTP_PASS: 'x', passPhrase: 'y', passwd: 'z' });
    assert.deepEqual([out.after_passes, out.passed], [2, true], 'counts of passes are no secret');
    const counters = logged({ findings_SPF_PASS: 7, findings_DKIM_PASS: 2, findings_X_PASS: 'text' });
    assert.deepEqual([counters.findings_SPF_PASS, counters.findings_DKIM_PASS, counters.findings_X_PASS], [7, 2, '[redacted]'], 'a count of findings by symbol is shown');
    const byStage = logged({ refusal_findings: { rcpt_to: { SPF_PASS: 3, DKIM_PASS: 'text' } } }) as { refusal_findings: { rcpt_to: Record<string, unknown> } };
    assert.deepEqual(byStage.refusal_findings.rcpt_to, { SPF_PASS: 3, DKIM_PASS: '[redacted]' }, 'a count under a bare symbol is shown too');
    const upper = logged({ PASSWORD: 1234, API_KEY: 123456, SMTP_PASSWORD: 99 });
    assert.deepEqual([upper.PASSWORD, upper.API_KEY, upper.SMTP_PASSWORD], ['[redacted]', '[redacted]', '[redacted]'], 'a number under an upper-case secret name is still a secret');
    assert.deepEqual([out.SMTP_PASS, out.passPhrase, out.passwd], ['[redacted]', '[redacted]', '[redacted]']);
    assert.equal(out.password, '[redacted]');
    assert.equal(out.tokens, 827857);
    const words = logged({ bypass: 'spf', spf_pass: 2, smtpPass: 'p', dbpass: 'd', use_key: true, keep_secret: false, Bypass_password: 'q' });
    assert.deepEqual([words.bypass, words.use_key, words.keep_secret], ['spf', true, false], 'bypass is a word of its own; true/false tell nothing');
    assert.deepEqual([words.spf_pass, words.smtpPass, words.dbpass, words.Bypass_password], ['[redacted]', '[redacted]', '[redacted]', '[redacted]']);
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

  it('removes the password from a URL, all of it when it holds an @, and leaves a URL without userinfo alone', () => {
    assert.equal(redactUrl('smtp://user:pw@relay.example:25'), 'smtp://user:***@relay.example:25');
    assert.equal(redactUrl('smtp://user:p@ss@relay.example:25'), 'smtp://user:***@relay.example:25');
    assert.equal(redactUrl('redis://:s3cret@10.0.0.1:6379/0'), 'redis://:***@10.0.0.1:6379/0');
    assert.equal(redactUrl('smtp://relay.example:25/x@y'), 'smtp://relay.example:25/x@y');
    // Userinfo without a colon may be a password in the user's place: masked whole (test/core/log/redact-url.test.ts).
    assert.equal(redactUrl('smtp://user@relay.example'), 'smtp://***@relay.example');
    // A password with a '/' written plain (a config check quotes it when refusing the URL).
    assert.equal(redactUrl('refused: smtp://relay:pa/ss@mail.example:587 at start'), 'refused: smtp://relay:***@mail.example:587 at start');
  });

  it('masks secrets at any depth and passwords in URLs in any field or in the message', () => {
    const lines: string[] = [];
    const log = new JsonLogger({ format: 'json', sink: { write: (l) => { lines.push(l); } } });
    log.warn('cannot reach smtp://relay:hunter2@10.0.0.5:587', {
      route: { via: 'smtp://u:hunter2@10.0.0.5:587', auth: { user: 'u', pass: 'hunter2' } },
      targets: [{ url: 'redis://:hunter2@127.0.0.1:6379' }],
      config: { smarthost: { api_key: 'hunter2', connections: 8 } },
    });
    assert.doesNotMatch(lines[0], /hunter2/);
    const rec = JSON.parse(lines[0]);
    assert.equal(rec.route.auth.user, 'u');
    assert.equal(rec.config.smarthost.connections, 8);
    assert.equal(rec.route.via, 'smtp://u:***@10.0.0.5:587');
  });

  it('in JSON mode C1 controls, DEL and line separators a client sent are escaped, and the line parses back to them', () => {
    const lines: string[] = [];
    const log = new JsonLogger({ format: 'json', sink: { write: (l) => { lines.push(l); } } });
    const helo = 'evil\u009b31m\u007f\u2028\u0085x';
    log.info('helo \u009b', { helo, list: ['\u2029'] });
    assert.doesNotMatch(lines[0], /[\u007f-\u009f\u2028\u2029]/);
    const back = JSON.parse(lines[0]);
    assert.equal(back.helo, helo);
    assert.equal(back.msg, 'helo \u009b');
    assert.deepEqual(back.list, ['\u2029']);
  });

  it('in text mode a control character in a value or the message cannot start a forged line', () => {
    const lines: string[] = [];
    const log = new JsonLogger({ format: 'text', sink: { write: (l) => { lines.push(l); } } });
    log.info('helo', { helo: 'x\n2030-01-01T00:00:00.000Z INFO  message verdict=accept', from: 'a\r@b\u001b[2J', ok: 'plain text' });
    log.info('line\u2028two');
    assert.equal(lines.join('').split('\n').length, 3, lines.join(''));
    assert.match(lines[0], /helo="x\\n2030/);
    assert.match(lines[0], /from="a\\r@b\\u001b\[2J"/);
    assert.match(lines[0], /ok="plain text"/);
    assert.doesNotMatch(lines[1], /\u2028/);
  });

  it('in text mode C1 controls and line separators inside lists and objects are escaped too', () => {
    const lines: string[] = [];
    const log = new JsonLogger({ format: 'text', sink: { write: (l) => { lines.push(l); } } });
    // A recipient taken with SMTPUTF8 and a subject reach the summary line inside arrays and objects.
    log.info('message', { to: ['a\u2028b@example.com'], finding: { detail: 'x\u009b2Jy\u0085z' } });
    assert.equal(lines.length, 1);
    assert.doesNotMatch(lines[0], /[\u0080-\u009f\u2028\u2029]/, JSON.stringify(lines[0]));
    assert.match(lines[0], /to=\["a\\u2028b@example\.com"\]/);
    assert.match(lines[0], /"detail":"x\\u009b2Jy\\u0085z"/);
  });

  it('bidi controls a client sent (a right-to-left override in an address) are escaped in both modes', () => {
    for (const format of ['json', 'text'] as const) {
      const lines: string[] = [];
      const log = new JsonLogger({ format, sink: { write: (l) => { lines.push(l); } } });
      const from = 'admin\u202emoc.knab@evil.example';
      log.info('message \u2067x\u2069', { from, to: ['b\u200f@example.com'] });
      assert.doesNotMatch(lines[0], /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/, `${format}: ${JSON.stringify(lines[0])}`);
      assert.match(lines[0], /admin\\u202emoc\.knab@evil\.example/, format);
      if (format === 'json') assert.equal(JSON.parse(lines[0]).from, from);
    }
  });

  it('in text mode a value cannot pass for another field of the line', () => {
    const lines: string[] = [];
    const log = new JsonLogger({ format: 'text', sink: { write: (l) => { lines.push(l); } } });
    log.info('relayed', { reply: '250 ok verdict=accept score=0', helo: 'mx.example', empty: '' });
    assert.match(lines[0], / reply="250 ok verdict=accept score=0" helo=mx\.example empty=""\n$/);
  });

  it('in text mode a field without a value is left out, as in a JSON line', () => {
    const lines: string[] = [];
    const log = new JsonLogger({ format: 'text', sink: { write: (l) => { lines.push(l); } } });
    log.info('message', { from: 'a@b.example', user: undefined, dsn: undefined, size: 0 });
    assert.match(lines[0], / message from=a@b\.example size=0\n$/);
  });
});
