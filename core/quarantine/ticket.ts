// Signed tickets for the quarantine digest's links: a ticket names one quarantined message, one of its recipients, an
// expiry and the one action it allows (release or delete), and lets whoever holds it do that to that message for that
// recipient, without a login (the link in the digest is the authentication, as in Proxmox Mail Gateway's spam report).
// The action is signed so that a Delete link passed on to someone (forwarded, pasted in a ticket system) cannot
// release the message, nor a Release link delete it. Tickets mailed before the action was signed name none and allow
// both until they expire: recipients click digest links days later, and their expiry bounds the old form's life.
// Form: base64url(JSON payload) "." base64url(HMAC-SHA256 of the payload's base64url text), under data_dir/quarantine.key.
// A recipient ticket names only a recipient and an expiry, and opens that recipient's page of everything held for them
// and their sender lists. Its HMAC is taken over a domain prefix no message ticket's input can start with (a NUL is
// no base64url character), and its payload carries its kind, so neither kind of ticket ever verifies as the other.
// Tickets signed now carry their issue time too, which a mailbox's revocation (`moat quarantine revoke`,
// revocations.ts) is compared with; older ones carry none and count as issued before any revocation.
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
  /**
   * The one action the ticket allows. Absent only in tickets signed before actions were (they allow both); every
   * ticket made now names one (digest-mail.ts: messageLinks).
   */
  action?: TicketAction;
  /** When it was signed (ms since the epoch); absent in tickets signed before the time was kept. */
  issued?: number;
}

export type TicketAction = 'release' | 'delete';

const ACTIONS: readonly unknown[] = ['release', 'delete'] satisfies TicketAction[];

/** Whether a verified ticket may do `action`: its own, or either for a ticket of the old form that names none. */
export const ticketAllows = (t: Ticket, action: TicketAction): boolean => t.action === undefined || t.action === action;

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

/** What a recipient ticket's HMAC is taken over, before its payload; message tickets sign the bare payload. */
const RECIPIENT_DOMAIN = 'mailmoat recipient ticket\0';

function signed(key: KeyObject, fields: Record<string, unknown>, domain: string): string {
  const payload = Buffer.from(JSON.stringify(fields)).toString('base64url');
  return `${payload}.${mac(key, domain + payload).toString('base64url')}`;
}

const issuedField = (t: { issued?: number }) => (t.issued === undefined ? {} : { n: t.issued });

/** The issue time a payload carries: absent, or a number (anything else makes the ticket malformed). */
function issuedOf(p: Record<string, unknown>): { issued?: number } | undefined {
  if (!('n' in p)) return {};
  return typeof p.n === 'number' && Number.isFinite(p.n) ? { issued: p.n } : undefined;
}

export function signTicket(key: KeyObject, t: Ticket): string {
  return signed(key, { i: t.id, a: t.address, e: t.expires, ...(t.action ? { x: t.action } : {}), ...issuedField(t) }, '');
}

/** Tickets are short; anything much longer is not one of ours, and is not worth an HMAC. */
const TICKET_MAX = 2048;

type Payload = { ok: true; fields: Record<string, unknown> } | { ok: false; reason: 'malformed' | 'bad signature' };

/** The payload of a ticket whose signature under `domain` holds. */
function openTicket(key: KeyObject, text: unknown, domain: string): Payload {
  if (typeof text !== 'string' || text.length > TICKET_MAX) return { ok: false, reason: 'malformed' };
  const m = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(text);
  if (!m) return { ok: false, reason: 'malformed' };
  const given = Buffer.from(m[2], 'base64url');
  const expected = mac(key, domain + m[1]);
  // timingSafeEqual throws on a length mismatch; the lengths themselves are no secret.
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'bad signature' };
  let p: unknown;
  try { p = JSON.parse(Buffer.from(m[1], 'base64url').toString('utf8')); } catch { return { ok: false, reason: 'malformed' }; }
  if (!p || typeof p !== 'object' || Array.isArray(p)) return { ok: false, reason: 'malformed' };
  return { ok: true, fields: p as Record<string, unknown> };
}

export function verifyTicket(key: KeyObject, text: unknown, now = Date.now()): TicketCheck {
  const opened = openTicket(key, text, '');
  if (!opened.ok) return opened;
  const p = opened.fields;
  if (typeof p.i !== 'string' || typeof p.a !== 'string' || typeof p.e !== 'number' || 'k' in p) return { ok: false, reason: 'malformed' };
  if ('x' in p && !ACTIONS.includes(p.x)) return { ok: false, reason: 'malformed' };
  const issued = issuedOf(p);
  if (!issued) return { ok: false, reason: 'malformed' };
  const ticket: Ticket = { id: p.i, address: p.a, expires: p.e, ...('x' in p ? { action: p.x as TicketAction } : {}), ...issued };
  if (now >= p.e) return { ok: false, reason: 'expired', ticket };
  return { ok: true, ticket };
}

export interface RecipientTicket {
  /** The recipient whose held mail and sender lists the ticket opens. */
  address: string;
  /** Milliseconds since the epoch after which the ticket no longer works. */
  expires: number;
  /** When it was signed (ms since the epoch); absent in tickets signed before the time was kept. */
  issued?: number;
}

export type RecipientTicketCheck =
  | { ok: true; ticket: RecipientTicket }
  | { ok: false; reason: 'malformed' | 'bad signature' }
  | { ok: false; reason: 'expired'; ticket: RecipientTicket };

export function signRecipientTicket(key: KeyObject, t: RecipientTicket): string {
  return signed(key, { k: 'recipient', a: t.address, e: t.expires, ...issuedField(t) }, RECIPIENT_DOMAIN);
}

export function verifyRecipientTicket(key: KeyObject, text: unknown, now = Date.now()): RecipientTicketCheck {
  const opened = openTicket(key, text, RECIPIENT_DOMAIN);
  if (!opened.ok) return opened;
  const p = opened.fields;
  if (p.k !== 'recipient' || typeof p.a !== 'string' || !p.a.includes('@') || typeof p.e !== 'number' || 'i' in p) return { ok: false, reason: 'malformed' };
  const issued = issuedOf(p);
  if (!issued) return { ok: false, reason: 'malformed' };
  const ticket: RecipientTicket = { address: p.a, expires: p.e, ...issued };
  if (now >= p.e) return { ok: false, reason: 'expired', ticket };
  return { ok: true, ticket };
}
