// A password written in the user's place (`redis://S3cret@host` for `redis://:S3cret@host`) is masked like any
// other: an admin's Redis password appeared in clear three times, once at error level, from such a URL.
import assert from 'node:assert/strict';
import { JsonLogger, redactUrl } from '../../../core/log/logger.ts';

describe('redactUrl with userinfo that has no colon', () => {
  it('masks the whole userinfo, keeping scheme, host, port and database', () => {
    assert.equal(redactUrl('redis://S3cretRedisPw@127.0.0.1:36379'), 'redis://***@127.0.0.1:36379');
    assert.equal(redactUrl('rediss://S3cretRedisPw@redis.example:6380/2'), 'rediss://***@redis.example:6380/2');
    assert.equal(redactUrl('smtp://p@ss@relay.example:25'), 'smtp://***@relay.example:25', 'an @ inside it too');
  });

  it('masks it inside a message that quotes the URL, and keeps the user of user:pass', () => {
    assert.equal(
      redactUrl('cannot reach the Redis state store at redis://S3cretRedisPw@127.0.0.1:36379: connection refused'),
      'cannot reach the Redis state store at redis://***@127.0.0.1:36379: connection refused',
    );
    assert.equal(redactUrl('redis://default:S3cretRedisPw@127.0.0.1:36379'), 'redis://default:***@127.0.0.1:36379');
  });

  it('leaves URLs without userinfo, an empty userinfo and e-mail addresses alone', () => {
    for (const plain of ['redis://127.0.0.1:6379', 'redis://@127.0.0.1:6379', 'mail from postmaster@example.org', 'http://host/a@b']) {
      assert.equal(redactUrl(plain), plain);
    }
  });

  it('keeps such a password out of a log line, in a field and in the message', () => {
    const lines: string[] = [];
    const log = new JsonLogger({ format: 'json', sink: { write: (l) => { lines.push(l); } } });
    log.error('cannot reach the Redis state store at redis://S3cretRedisPw@127.0.0.1:36379', { url: 'redis://S3cretRedisPw@127.0.0.1:36379', err: { detail: 'redis://S3cretRedisPw@h' } });
    assert.equal(lines.length, 1);
    assert.doesNotMatch(lines[0], /S3cretRedisPw/);
    assert.match(lines[0], /redis:\/\/\*\*\*@127\.0\.0\.1:36379/);
  });
});
