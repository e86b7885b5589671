// A password may hold a blank, or any other character a URL parser takes in a userinfo: `redis://:Secret 99@host` is
// a working Redis URL (the parser reads up to the last `@` before the path), and the old masking stopped at the blank,
// so an admin's start line, outage line and greylist errors carried `Secret 99` in clear. Text that merely follows a
// URL (an address later in the line) stays as it was.
import assert from 'node:assert/strict';
import { JsonLogger, redactUrl } from '../../../core/log/logger.ts';
import { withEncodedUserinfo } from '../../../core/config/load.ts';

const URL_WITH_BLANK = 'redis://:Secret 99@127.0.0.1:26380';

function loggedLine(msg: string, fields: Record<string, unknown>, format: 'json' | 'text' = 'json'): string {
  const lines: string[] = [];
  new JsonLogger({ format, sink: { write: (l) => { lines.push(l); } } }).error(msg, fields);
  assert.equal(lines.length, 1);
  return lines[0];
}

describe('redactUrl: a userinfo with blanks and other characters a URL parser takes', () => {
  it('masks the whole password, alone and quoted in a message', () => {
    assert.equal(redactUrl(URL_WITH_BLANK), 'redis://:***@127.0.0.1:26380');
    assert.equal(redactUrl(`redis state store unreachable at ${URL_WITH_BLANK}: connection refused`), 'redis state store unreachable at redis://:***@127.0.0.1:26380: connection refused');
    assert.equal(redactUrl('redis://default:two  blanks\tand a tab@redis.example:6380/2'), 'redis://default:***@redis.example:6380/2');
    assert.equal(redactUrl('smtp://relay:a"b <c> {d}|^`e@relay.example:587.'), 'smtp://relay:***@relay.example:587.');
    assert.equal(redactUrl('smtp://relay:p w@x@relay.example'), 'smtp://relay:***@relay.example', 'an @ in it too');
    // A config value that is the URL itself: read as the parser reads it, a userinfo without a colon included.
    assert.equal(redactUrl('redis://Secret 99@127.0.0.1:26380'), 'redis://***@127.0.0.1:26380');
    // A user name with a blank is no name to keep.
    assert.equal(redactUrl('redis://my user:pw x@h.example'), 'redis://:***@h.example');
  });

  it('leaves prose after a URL without userinfo alone: addresses, replies, paths', () => {
    for (const plain of [
      'smtp://relay.example:25 said 550 5.1.1 <user@example.org>: no such user',
      'at redis://127.0.0.1:6379 for postmaster@example.org',
      'see http://example.com/a b@c.example',
      'redis://localhost, then mail admin@example.org',
      'redis://@127.0.0.1:6379',
    ]) assert.equal(redactUrl(plain), plain);
  });

  it('keeps such a password out of a log line: message, field, nested field, error message and stack, JSON and text', () => {
    const err = new Error(`cannot reach the Redis state store at ${URL_WITH_BLANK}: NOAUTH`);
    for (const format of ['json', 'text'] as const) {
      const line = loggedLine(`redis state store unreachable at ${URL_WITH_BLANK}`, {
        url: URL_WITH_BLANK,
        state: { redis: { url: URL_WITH_BLANK } },
        error: err.message,
        stack: err.stack,
        targets: [URL_WITH_BLANK],
      }, format);
      assert.doesNotMatch(line, /Secret|99@/, format);
      assert.match(line, /redis:\/\/:\*\*\*@127\.0\.0\.1:26380/, format);
    }
    const rec = JSON.parse(loggedLine('m', { url: URL_WITH_BLANK, error: err.message }));
    assert.equal(rec.url, 'redis://:***@127.0.0.1:26380');
    assert.equal(rec.error, 'cannot reach the Redis state store at redis://:***@127.0.0.1:26380: NOAUTH');
  });

  it('the configured URL is percent-encoded as a URL parser writes it, so no raw blank travels further', () => {
    assert.equal(withEncodedUserinfo(URL_WITH_BLANK), 'redis://:Secret%2099@127.0.0.1:26380');
    assert.equal(withEncodedUserinfo('rediss://u:a"b<c>@h.example:6380/3'), 'rediss://u:a%22b%3Cc%3E@h.example:6380/3');
    for (const same of ['redis://127.0.0.1:6379', 'redis://u:p%40x@h:1/2', 'not a url']) assert.equal(withEncodedUserinfo(same), same);
    assert.equal(new URL(withEncodedUserinfo(URL_WITH_BLANK)).password, 'Secret%2099', 'the client decodes it back to `Secret 99`');
    assert.equal(redactUrl(withEncodedUserinfo(URL_WITH_BLANK)), 'redis://:***@127.0.0.1:26380');
  });
});
