// A domain as `moat queue overview` and `--shape` print it: in the A-label form the queue groups it by, with its
// Unicode form beside, so an admin who knows the domain as `müller.example` finds the `xn--mller-kva.example` row.
import { domainToUnicode } from 'node:url';
import { forTerminal } from './inspect.ts';

/** `xn--mller-kva.example (müller.example)`; a domain without A-labels, or one that does not decode, as it is. */
export function domainLabel(domain: string, max?: number): string {
  const unicode = /(?:^|\.)xn--/.test(domain) ? domainToUnicode(domain) : '';
  const label = unicode && unicode !== domain ? `${domain} (${unicode})` : domain;
  // A domain is what a remote party wrote: shown safe for the terminal.
  return forTerminal(label, max);
}
