// Test helpers: a digest mail read as its recipient reads it.
import assert from 'node:assert/strict';

/** The text part of a digest as a reader sees it (it is base64 in the mail). */
export function digestText(raw: Buffer): string {
  const m = /Content-Type: text\/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n([A-Za-z0-9+/=\r\n]+)/.exec(raw.toString('latin1'));
  assert.ok(m, 'a text part');
  return Buffer.from(m[1].replace(/\r\n/g, ''), 'base64').toString('utf8');
}

/** The ticket of a digest's Release or Delete link. */
export const ticketOf = (text: string, verb: 'release' | 'delete') => new RegExp(`/quarantine/${verb}\\?t=([A-Za-z0-9_.-]+)`).exec(text)?.[1];

/** The recipient ticket of a digest's "All mail held for you" link. */
export const mineTicketOf = (text: string) => /\/quarantine\/mine\?t=([A-Za-z0-9_.-]+)/.exec(text)?.[1];

/** The HTML part of a digest. */
export function digestHtml(raw: Buffer): string {
  const m = /Content-Type: text\/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n([A-Za-z0-9+/=\r\n]+)/.exec(raw.toString('latin1'));
  assert.ok(m, 'an HTML part');
  return Buffer.from(m[1].replace(/\r\n/g, ''), 'base64').toString('utf8');
}
