// The digest's tickets: signed, checked in constant time, refused when tampered with, expired or under another key.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHmac, createSecretKey, randomBytes } from 'node:crypto';
import { loadTicketKey, signRecipientTicket, signTicket, verifyRecipientTicket, verifyTicket } from '../../../core/quarantine/ticket.ts';

describe('quarantine tickets', () => {
  const key = createSecretKey(randomBytes(32));
  // Made when mocha loads the file, which may be minutes before these tests run in the whole suite: a week ahead.
  const ticket = { id: 'mabc1234500ab12cd34', address: 'Ann@Example.com', expires: Date.now() + 7 * 86_400_000 };

  it('a ticket signed under the key verifies and names its message, recipient and expiry', () => {
    const t = signTicket(key, ticket);
    assert.match(t, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, 'base64url, safe in a link');
    assert.deepEqual(verifyTicket(key, t), { ok: true, ticket });
  });

  it('a changed payload or signature is refused', () => {
    const [payload, mac] = signTicket(key, ticket).split('.');
    const other = Buffer.from(JSON.stringify({ i: ticket.id, a: 'mallory@example.com', e: ticket.expires })).toString('base64url');
    assert.deepEqual(verifyTicket(key, `${other}.${mac}`), { ok: false, reason: 'bad signature' });
    const flipped = (mac[0] === 'A' ? 'B' : 'A') + mac.slice(1);
    assert.deepEqual(verifyTicket(key, `${payload}.${flipped}`), { ok: false, reason: 'bad signature' });
    assert.deepEqual(verifyTicket(key, `${payload}.${mac.slice(0, 10)}`), { ok: false, reason: 'bad signature' }, 'a short signature');
  });

  it('an expired ticket is refused, even with a good signature', () => {
    const t = signTicket(key, { ...ticket, expires: 1_000 });
    assert.deepEqual(verifyTicket(key, t, 999), { ok: true, ticket: { ...ticket, expires: 1_000 } });
    assert.deepEqual(verifyTicket(key, t, 1_000), { ok: false, reason: 'expired', ticket: { ...ticket, expires: 1_000 } }, 'its signature held: what it names is told');
  });

  it('a ticket signed under another key is refused', () => {
    const t = signTicket(createSecretKey(randomBytes(32)), ticket);
    assert.deepEqual(verifyTicket(key, t), { ok: false, reason: 'bad signature' });
  });

  it('anything else is malformed', () => {
    for (const bad of [undefined, '', 'abc', 'a.b.c', 'x'.repeat(5000), '../../etc.passwd']) {
      assert.deepEqual(verifyTicket(key, bad), { ok: false, reason: 'malformed' }, String(bad));
    }
    // Signed, but not a ticket's payload.
    const payload = Buffer.from('"just a string"').toString('base64url');
    const mac = createHmac('sha256', key).update(payload).digest('base64url');
    assert.deepEqual(verifyTicket(key, `${payload}.${mac}`), { ok: false, reason: 'malformed' });
  });

  it('a recipient ticket names a recipient and an expiry, and verifies only as a recipient ticket', () => {
    const mine = { address: 'Ann@Example.com', expires: ticket.expires };
    const t = signRecipientTicket(key, mine);
    assert.deepEqual(verifyRecipientTicket(key, t), { ok: true, ticket: mine });
    assert.deepEqual(verifyRecipientTicket(key, t, ticket.expires), { ok: false, reason: 'expired', ticket: mine });
    // Neither kind opens what the other does, though both are signed under the same key.
    assert.deepEqual(verifyTicket(key, t), { ok: false, reason: 'bad signature' });
    assert.deepEqual(verifyRecipientTicket(key, signTicket(key, ticket)), { ok: false, reason: 'bad signature' });
    // A message ticket's payload signed as a recipient ticket's (it cannot be, without the key) is still not one.
    const payload = Buffer.from(JSON.stringify({ i: ticket.id, a: ticket.address, e: ticket.expires })).toString('base64url');
    const asRecipient = createHmac('sha256', key).update(`mailmoat recipient ticket\0${payload}`).digest('base64url');
    assert.deepEqual(verifyRecipientTicket(key, `${payload}.${asRecipient}`), { ok: false, reason: 'malformed' });
    // Another recipient in the payload under the original signature.
    const [, mac] = t.split('.');
    const bob = Buffer.from(JSON.stringify({ k: 'recipient', a: 'bob@example.com', e: ticket.expires })).toString('base64url');
    assert.deepEqual(verifyRecipientTicket(key, `${bob}.${mac}`), { ok: false, reason: 'bad signature' });
  });

  it('the key is made once in data_dir, mode 0600, and kept', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mm-ticket-'));
    try {
      const first = loadTicketKey(dir);
      assert.equal(statSync(path.join(dir, 'quarantine.key')).mode & 0o777, 0o600);
      const t = signTicket(first, ticket);
      assert.equal(verifyTicket(loadTicketKey(dir), t).ok, true, 'a later process verifies what an earlier one signed');
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });
});
