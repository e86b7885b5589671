// The sender-logins file as an admin writes it: which entry owns an address, and what a wrong line is told as.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadSenderLogins, senderLoginEntries, senderLogins, senderLoginsProblem } from '../../../core/auth/sender-logins.ts';
import { validateConfig } from '../../../core/config/load.ts';

describe('auth.sender_logins file', () => {
  it('gives the most specific entry: the address as tagged, then untagged, then its domain', () => {
    const { entries, problems } = senderLoginEntries([
      '@example.com            staff',
      'alice@example.com       alice',
      'alice+billing@example.com  billing, alice',
      '  # indented comment',
      '',
    ].join('\r\n'));
    assert.deepEqual(problems, []);
    const map = senderLogins(entries, '+-');
    assert.deepEqual(map.ownersOf('alice@example.com'), ['alice']);
    assert.deepEqual(map.ownersOf('alice-news@EXAMPLE.com.'), ['alice'], 'either delimiter, a trailing dot, any case');
    assert.deepEqual(map.ownersOf('Alice+Billing@example.com'), ['billing', 'alice']);
    assert.deepEqual(map.ownersOf('bob@example.com'), ['staff']);
    assert.equal(map.ownersOf('bob@sub.example.com'), undefined, 'a domain entry does not cover subdomains');
    assert.equal(senderLogins(entries, '').ownersOf('alice+news@example.com')?.[0], 'staff', 'no delimiters: no tags');
  });

  it('names each wrong line, and refuses a file with no entry', () => {
    const { problems } = senderLoginEntries([
      'alice@example.com',
      'nobody  alice',
      'bob@example.com  bob:x',
      'ALICE@example.com  alice',
      'alice@example.com  alice',
    ].join('\n'));
    assert.deepEqual(problems, [
      'line 1: "alice@example.com" names no login: write the logins that may send as it after it (alice or alice,bob)',
      'line 2: "nobody" has no @: write user@nobody for one address, or @nobody for every address of that domain',
      'line 3: "bob@example.com": "bob:x" is no user name (a user name has no colon)',
      'line 5: "alice@example.com" is listed on line 4 already: give all of its logins on one line',
    ]);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mm-sender-logins-'));
    try {
      const empty = path.join(dir, 'empty');
      writeFileSync(empty, '# nothing yet\n');
      assert.match(senderLoginsProblem(empty) ?? '', /lists no address: no login would own any sender address/);
      assert.equal(senderLoginsProblem('relative/path'), 'must be an absolute path');
      assert.match(senderLoginsProblem(path.join(dir, 'missing')) ?? '', /cannot read .*: ENOENT/);
      const good = path.join(dir, 'good');
      writeFileSync(good, 'alice@example.com alice\n');
      assert.deepEqual(loadSenderLogins(good, '+').ownersOf('alice@example.com'), ['alice']);
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });

  it('is refused by the config check when enforced without a file, or when the file is unusable', async () => {
    await assert.rejects(validateConfig({ auth: { enforce_sender_login: true } }), /auth\.enforce_sender_login: needs auth\.sender_logins/);
    await assert.rejects(validateConfig({ auth: { sender_logins: '/nonexistent/sender-logins' } }), /auth\.sender_logins: cannot read/);
  });
});
