// How every quarantine page is answered: HTML that no cache keeps, whose address (it holds a ticket) no link or form
// carries to another site, and that loads nothing from anywhere.
import type { HttpResponse } from '../http/types.ts';
import type { Page } from './pages.ts';

const HEADERS: Record<string, string> = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
};

export const respond = (status: number, page: Page): HttpResponse => ({ status, headers: { ...HEADERS }, body: page });
