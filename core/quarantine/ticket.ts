// Signed tickets for the quarantine digest's links: a ticket names one quarantined message, one of its recipients and
// an expiry, and lets whoever holds it release or delete that message for that recipient, without a login (the link
// in the digest is the authentication, as in Proxmox Mail Gateway's spam report).
// Form: base64url(JSON payload) "." base64url(HMAC-SHA256 of the payload's base64url text), under data_dir/quarantine.key.
import { createHmac, timingSafeEqual, type KeyObject } from 'node:crypto';
import path from 'node:path';
import { loadSealKey } from '../queue/envelope-seal.ts';

export interface Ticket {
  /** The quarantined message's queue id. */
  id: string;
  /** The recipient the ticket acts for. */
  address: string;
  /** Milliseconds since the epoch after which the ticket no longer works. */
  expires: number;
}

/** An expired ticket's signature held, so what it names can be told (to the recipient and in the log). */
export type TicketCheck = { ok: true; ticket: Ticket } | { ok: false; reason: 'malformed' | 'bad signature' } | { ok: false; reason: 'expired'; ticket: Ticket };

/**
 * The key tickets are signed with, created on first use (mode 0600) as queue.key is. A key of its own rather than
 * queue.key: a key that signs links sent out by mail must be replaceable (to revoke every ticket) without touching
 * the seals of the queue.
 */
export function loadTicketKey(dataDir: string): KeyObject {
  return loadSealKey(path.join(dataDir, 'quarantine.key'));
}

const mac = (key: KeyObject, text: string) => createHmac('sha256', key).update(text).digest();

export function signTicket(key: KeyObject, t: Ticket): string {
  const payload = Buffer.from(JSON.stringify({ i: t.id, a: t.address, e: t.expires })).toString('base64url');
  return `${payload}.${mac(key, payload).toString('base64url')}`;
}

/** Tickets are short; anything much longer is not one of ours, and is not worth an HMAC. */
const TICKET_MAX = 2048;

export function verifyTicket(key: KeyObject, text: unknown, now = Date.now()): TicketCheck {
  if (typeof text !== 'string' || text.length > TICKET_MAX) return { ok: false, reason: 'malformed' };
  const m = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(text);
  if (!m) return { ok: false, reason: 'malformed' };
  const given = Buffer.from(m[2], 'base64url');
  const expected = mac(key, m[1]);
  // timingSafeEqual throws on a length mismatch; the lengths themselves are no secret.
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'bad signature' };
  let p: { i?: unknown; a?: unknown; e?: unknown };
  try { p = JSON.parse(Buffer.from(m[1], 'base64url').toString('utf8')); } catch { return { ok: false, reason: 'malformed' }; }
  if (typeof p?.i !== 'string' || typeof p.a !== 'string' || typeof p.e !== 'number') return { ok: false, reason: 'malformed' };
  const ticket = { id: p.i, address: p.a, expires: p.e };
  if (now >= p.e) return { ok: false, reason: 'expired', ticket };
  return { ok: true, ticket };
}
