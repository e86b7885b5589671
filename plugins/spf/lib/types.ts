// Results and options of the SPF evaluator.
import type { DnsResolver } from '../../../core/index.ts';

export type SpfResult = 'pass' | 'fail' | 'softfail' | 'neutral' | 'none' | 'permerror' | 'temperror';

export const SPF_RESULTS: readonly SpfResult[] = ['pass', 'fail', 'softfail', 'neutral', 'none', 'permerror', 'temperror'];

export interface SpfQuery {
  /** The connecting client's address. */
  ip: string;
  /** The domain to check: the MAIL FROM domain, or the HELO name. */
  domain: string;
  /** MAIL FROM address; for a HELO check (or a null sender) `postmaster@<helo>`. */
  sender: string;
  /** HELO/EHLO name, for %{h}. */
  helo: string;
}

export interface SpfOptions {
  resolver: DnsResolver;
  /** Our host name, for %{r} in explanations. */
  receiver?: string;
  /** DNS-querying terms allowed per check (RFC 7208: 10). */
  maxLookups?: number;
  /** Lookups answering NXDOMAIN or no data allowed per check (RFC 7208: 2). */
  maxVoidLookups?: number;
  /** Extra mechanisms tried before a top-level record's final non-pass result (a local allowlist policy). */
  localPolicy?: string;
  /** Record evaluated for domains that publish none; its result is reported separately as a guess. */
  bestGuess?: string;
  /** Explanation used for `fail` when the domain gives none. */
  defaultExplanation?: string;
}

export interface SpfEvaluation {
  result: SpfResult;
  /** The domain whose policy was checked. */
  domain: string;
  /** The term that decided, e.g. `-all`, or `default` when nothing matched. */
  mechanism?: string;
  /** The explanation for `fail` (from `exp=`, or the default). */
  explanation?: string;
  /** Why an error result came about. */
  problem?: string;
  /**
   * Set on a pass from a term that matches almost any client (`+all`, a range shorter than /8 or /16), here or in
   * an included or redirected record: the domain authorises the whole internet, which proves nothing about the client.
   */
  broad?: boolean;
  /** Set when the result came from the configured local policy. */
  localPolicy?: boolean;
  /** Outcome of the best-guess record when the domain publishes none (`result` stays `none`). */
  guess?: SpfResult;
  lookups: number;
  voidLookups: number;
}
