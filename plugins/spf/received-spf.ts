// The Received-SPF header of RFC 7208 section 9.1.
import type { SpfEvaluation } from './lib/types.ts';
import type { Identity } from './scores.ts';

export interface HeaderFacts {
  receiver: string;
  ip: string;
  helo?: string;
  envelopeFrom: string;
  identity: Identity;
}

const COMMENTS: Record<string, (f: HeaderFacts, d: string) => string> = {
  pass: (f, d) => `domain of ${d} designates ${f.ip} as permitted sender`,
  fail: (f, d) => `domain of ${d} does not designate ${f.ip} as permitted sender`,
  softfail: (f, d) => `domain of transitioning ${d} does not designate ${f.ip} as permitted sender`,
  neutral: (f, d) => `${f.ip} is neither permitted nor denied by domain of ${d}`,
  none: (_f, d) => `domain of ${d} does not designate permitted sender hosts`,
  temperror: (_f, d) => `error in processing during lookup of ${d}`,
  permerror: (_f, d) => `permanent error in processing domain of ${d}`,
};

/** Keeps a value inside a header: printable ASCII, quoted when it is not a plain token. */
function value(v: string): string {
  const clean = v.replace(/[^\x20-\x7e]/g, '?');
  return /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.@:]+$/.test(clean) ? clean : `"${clean.replace(/["\\]/g, '\\$&')}"`;
}

export function receivedSpf(r: SpfEvaluation, f: HeaderFacts): string {
  const who = f.identity === 'helo' ? (f.helo ?? r.domain) : f.envelopeFrom || `postmaster@${r.domain}`;
  const comment = `${f.receiver}: ${COMMENTS[r.result](f, who)}${r.localPolicy ? ' (local policy)' : ''}`.replace(/[()\\]/g, '');
  const parts = [`client-ip=${f.ip}`, `envelope-from=${value(f.envelopeFrom)}`];
  // The session keeps the name lower-cased; an address literal's tag is written `IPv6:` (RFC 5321 §4.1.3), as Received has it.
  if (f.helo) parts.push(`helo=${value(f.helo.replace(/^\[ipv6:/i, '[IPv6:'))}`);
  parts.push(`receiver=${value(f.receiver)}`, `identity=${f.identity}`);
  if (r.mechanism && r.mechanism !== 'default') parts.push(`mechanism=${value(r.mechanism)}`);
  if (r.problem) parts.push(`problem=${value(r.problem)}`);
  return `${r.result} (${comment}) ${parts.join('; ')};`;
}
