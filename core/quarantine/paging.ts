// The pages of a recipient's held mail: which one a request names, and the links between them. A page is a place in
// the held index's order (newest first, then by id), so pages 1, 2, 3 … list every message held once; the links
// carry the recipient's ticket, as every link of the page does, and nothing else secret.
import { escapeHtml as e } from './html.ts';

/** Messages a page lists: a flood of spam for one address must not make a page of megabytes. */
export const PAGE_MAX = 200;

/** Pages linked on each side of the one shown (besides the first and the last). */
const AROUND = 2;

/** The page a query or form names: a whole number from 1; anything else (absent, 0, -1, 2.5, 1e3) is the first. */
export function pageNumber(text: string | null | undefined): number {
  return text && /^[1-9]\d{0,6}$/.test(text) ? Number(text) : 1;
}

/** How many pages `total` messages take (one, empty, when there are none). */
export const pageCount = (total: number): number => Math.max(1, Math.ceil(total / PAGE_MAX));

/** The address of page `number` of the recipient's list, relative to the page (as link_base may put it anywhere). */
export const pageHref = (ticket: string, number: number): string => `mine?${new URLSearchParams({ t: ticket, page: String(number) })}`;

/** Links to the newer and older pages and to pages near this one; empty when everything fits on one. */
export function pageLinks(ticket: string, number: number, pages: number): string {
  if (pages <= 1) return '';
  const near = new Set([1, pages]);
  for (let n = number - AROUND; n <= number + AROUND; n++) if (n >= 1 && n <= pages) near.add(n);
  const numbers = [...near].sort((a, b) => a - b);
  const link = (n: number, label: string) => `<a href="${e(pageHref(ticket, n))}">${e(label)}</a>`;
  const parts: string[] = [];
  if (number > 1) parts.push(link(number - 1, '« Newer'));
  numbers.forEach((n, i) => {
    if (i > 0 && n - numbers[i - 1] > 1) parts.push('…');
    parts.push(n === number ? `<strong>${n}</strong>` : link(n, String(n)));
  });
  if (number < pages) parts.push(link(number + 1, 'Older »'));
  return `<nav aria-label="Pages"><p>Pages: ${parts.join(' ')}</p></nav>`;
}
