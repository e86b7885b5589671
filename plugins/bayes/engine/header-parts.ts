// Addresses, Message-ID parts and host names in header values, found in one pass.
//
// Why not the obvious regexes (/[^\s<>]+@[^\s<>]+/g, /<?([^@<>]*)@([^>\s]+)>?/, /\b[a-z0-9-]+(?:\.[a-z0-9-]+)+\b/g):
// where a long run of characters never completes a match, each start position inside the run rescans it to the
// end, so the time grows with the square of the header. A 40 KB From header took 5 s and a 512 KB one (what the
// tokenizer reads) would block the gateway for minutes. These functions give the same results on real headers
// (checked on every message of the shared corpus) and never read a character more than a few times.

import { withoutSpans, withoutTrailing } from '../../../core/index.ts';

const ADDRESS_DELIMITERS = /[\s<>"',;:()]+/;

/** True when `run` has an `@` with at least one character on each side. */
function hasInnerAt(run: string): boolean {
  const at = run.indexOf('@', 1);
  return at > 0 && at < run.length - 1;
}

/** Address-like runs (`local@domain`, delimited by space, <>, quotes, commas, semicolons, colons and brackets). */
export function addressesIn(value: string, max: number): string[] {
  const found: string[] = [];
  for (const run of value.split(ADDRESS_DELIMITERS)) {
    if (!hasInnerAt(run)) continue;
    found.push(run);
    if (found.length >= max) break;
  }
  return found;
}

/** `value` with each `<…>` and each non-space run holding an inner `@` replaced by a space: the display name's words. */
export function displayText(value: string): string {
  return withoutSpans(value, '<', '>', ' ').replace(/\S+/g, (run) => (hasInnerAt(run) ? ' ' : run));
}

/** `domain` without trailing dots and `>`s. */
export function trimDomain(domain: string): string {
  return withoutTrailing(domain, '.>');
}

const MESSAGE_ID_DOMAIN = /[^>\s]+/y;

/** The local part and domain of the first `local@domain` in a Message-ID value, or undefined. */
export function messageIdParts(value: string): { local: string; domain: string } | undefined {
  for (let at = value.indexOf('@'); at >= 0; at = value.indexOf('@', at + 1)) {
    MESSAGE_ID_DOMAIN.lastIndex = at + 1;
    const domain = MESSAGE_ID_DOMAIN.exec(value);
    if (!domain) continue;
    let start = at;
    while (start > 0 && value[start - 1] !== '<' && value[start - 1] !== '>' && value[start - 1] !== '@') start--;
    return { local: value.slice(start, at), domain: domain[0] };
  }
  return undefined;
}

const HOST_RUN = /[a-z0-9._-]+/g;
const LETTER_OR_DIGIT = /[a-z0-9]/;

/**
 * Dotted names (`mail.example.com`, `192.0.2.1`) in a lower-cased value: labels of letters, digits and hyphens
 * joined by single dots, starting and ending on a letter or digit, and not touching an underscore. A run longer
 * than a DNS name can be is skipped.
 */
export function hostNamesIn(lower: string): string[] {
  const found: string[] = [];
  for (const run of lower.match(HOST_RUN) ?? []) {
    if (run.length > 253 || !run.includes('.')) continue;
    // Most runs are whole names already; splitting each into labels took most of the time of a Received field of
    // 130,000 short names (0.1 s of 0.2 s for 512 KB).
    if (isWholeName(run)) { found.push(run); continue; }
    let chain: string[] = [];
    for (const label of run.split('.')) {
      if (label !== '' && !label.includes('_')) { chain.push(label); continue; }
      // An empty label (two dots) or one with `_` ends the name; no part of such a label belongs to one.
      const name = nameOf(chain);
      if (name) found.push(name);
      chain = [];
    }
    const name = nameOf(chain);
    if (name) found.push(name);
  }
  return found;
}

/** True when `run` (a dotted HOST_RUN) is one name as it stands: no `_`, no empty label, a letter or digit at each end. */
function isWholeName(run: string): boolean {
  return isLetterOrDigit(run.charCodeAt(0)) && isLetterOrDigit(run.charCodeAt(run.length - 1)) && !run.includes('_') && !run.includes('..');
}

function isLetterOrDigit(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 48 && c <= 57);
}

/** The name a chain of labels holds once it starts and ends on a letter or digit; '' when under two labels are left. */
function nameOf(chain: string[]): string {
  let first = 0;
  let last = chain.length - 1;
  while (first <= last && !LETTER_OR_DIGIT.test(chain[first])) first++;
  while (last >= first && !LETTER_OR_DIGIT.test(chain[last])) last--;
  if (last - first < 1) return '';
  const labels = chain.slice(first, last + 1);
  labels[0] = labels[0].slice(labels[0].search(LETTER_OR_DIGIT));
  labels[labels.length - 1] = withoutTrailing(labels[labels.length - 1], '-');
  return labels.join('.');
}
