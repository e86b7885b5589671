// The symbols of the spf plugin, their meaning and default scores.
import type { SpfResult } from './lib/types.ts';
import type { ScoredSymbols } from '../../core/index.ts';

export const SYMBOLS: ScoredSymbols = {
  SPF_PASS: { score: -1, description: 'MAIL FROM domain authorises the client' },
  SPF_FAIL: { score: 4, description: 'MAIL FROM domain says the client is not authorised (-)' },
  SPF_SOFTFAIL: { score: 2, description: 'MAIL FROM domain says the client is probably not authorised (~)' },
  SPF_NEUTRAL: { score: 0, description: 'MAIL FROM domain makes no assertion about the client (?)' },
  SPF_NONE: { score: 0.5, description: 'MAIL FROM domain publishes no SPF record' },
  SPF_TEMPERROR: { score: 0, description: 'DNS failed while checking MAIL FROM' },
  SPF_PERMERROR: { score: 1, description: 'MAIL FROM domain\'s SPF record is broken or exceeds the lookup limits' },
  SPF_HELO_PASS: { score: -0.5, description: 'HELO name authorises the client' },
  SPF_HELO_FAIL: { score: 1.5, description: 'HELO name says the client is not authorised' },
  SPF_HELO_SOFTFAIL: { score: 0.5, description: 'HELO name says the client is probably not authorised' },
  SPF_HELO_NEUTRAL: { score: 0, description: 'HELO name makes no assertion' },
  SPF_HELO_NONE: { score: 0, description: 'HELO name publishes no SPF record (or is not a domain)' },
  SPF_HELO_TEMPERROR: { score: 0, description: 'DNS failed while checking the HELO name' },
  SPF_HELO_PERMERROR: { score: 0.5, description: 'HELO name\'s SPF record is broken' },
  SPF_GUESS_PASS: { score: -0.5, description: 'No SPF record, but the best-guess policy passes the client' },
  SPF_GUESS_FAIL: { score: 0.5, description: 'No SPF record, and the best-guess policy fails the client' },
  SPF_GUESS_SOFTFAIL: { score: 0.3, description: 'No SPF record, and the best-guess policy softfails the client' },
  SPF_GUESS_NEUTRAL: { score: 0, description: 'No SPF record, and the best-guess policy makes no assertion' },
  SPF_GUESS_PERMERROR: { score: 0, description: 'The best-guess policy could not be evaluated' },
  SPF_GUESS_TEMPERROR: { score: 0, description: 'DNS failed while evaluating the best-guess policy' },
};

export type Identity = 'mailfrom' | 'helo';

export function symbolFor(identity: Identity, result: SpfResult): string {
  return `${identity === 'helo' ? 'SPF_HELO_' : 'SPF_'}${result.toUpperCase()}`;
}

export function guessSymbol(result: SpfResult): string {
  return `SPF_GUESS_${result.toUpperCase()}`;
}
