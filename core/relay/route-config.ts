// The schema of `routes:`: per recipient domain, its own smarthost, direct MX delivery, or the default smarthost.
import { s, TIMER_MAX_MS, type Infer, type Issue } from '../config/schema.ts';
import { notADomain } from '../config/domain-name.ts';
import { comparableDomain } from '../text/idn-address.ts';
import { checkSmtpUrl } from '../config/smtp-url-schema.ts';
import { checkEachHasTls, smtpUrlList } from './url-list-schema.ts';
import { caFile } from './ca-file-schema.ts';

/** smarthost.timeout's and a route's: unset, each step has RFC 5321's time (core/relay/stage-timeouts.ts). */
export const RELAY_TIMEOUT_TEXT = "One time for every reply and every block of the message, replacing the times RFC 5321 §4.5.3.2 gives each step when unset: 5m for the greeting, EHLO, STARTTLS, AUTH, MAIL and RCPT, 2m for DATA's 354, 3m per block of the message, 20s for the RSET before a pooled connection is reused. Unless connect_timeout is set, it is the TCP connection's time too, as it was before connect_timeout existed";

const via = s.checked(s.string({ pattern: /^(mx|default|smtps?:\/\/\S+)$/, patternName: "'mx', 'default' or a URL smtp://[user:pass@]host:port" }),
  (v, p, is) => { if (v !== 'mx' && v !== 'default') checkSmtpUrl(v, p, is); });

export const routeSchema = s.checked(s.object({
  via: s.union(via, smtpUrlList).describe("Where mail for the domain goes: a smarthost URL, a list of them tried in order (as MX hosts are), 'mx' (the domain's MX hosts) or 'default' (the main smarthost)"),
  port: s.number({ integer: true, min: 1, max: 65535 }).default(25).describe('Port of the MX hosts (mx routes)'),
  starttls: s.enum(['required', 'opportunistic', 'off'] as const).default('opportunistic').describe('STARTTLS policy on this route (as smarthost.starttls)'),
  tls_verify: s.boolean().optionalValue()
    .describe("With required TLS or credentials: refuse a certificate that does not verify against the trusted CAs (the system store and Node's CA list) and the host: a URL's name or address, an MX host's name (default: yes for smarthost URLs, for MX hosts only with starttls: required)"),
  tls_ca_file: caFile.optionalValue().describe("PEM bundle of the CAs this route trusts instead of the system store and Node's CA list (as smarthost.tls_ca_file); an absolute path"),
  user: s.string().optionalValue().describe('AUTH user on this route (or in the URL)'),
  pass: s.string().optionalValue().describe('AUTH password on this route (or in the URL)'),
  connections: s.number({ integer: true, min: 1, max: 200 }).optionalValue()
    .describe('Connections at once to one destination host (default queue.max_per_destination)'),
  max_message_size: s.size().optionalValue().describe('Largest message sent on this route; larger ones bounce (default queue.max_outbound_size)'),
  timeout: s.duration({ min: 1, max: TIMER_MAX_MS }).optionalValue().describe(RELAY_TIMEOUT_TEXT),
  connect_timeout: s.duration({ min: 1, max: TIMER_MAX_MS }).optionalValue().describe("How long a TCP connection may take on this route; unset, the route's `timeout` when that is set, else 30s (as smarthost.connect_timeout)"),
  data_done_timeout: s.duration({ min: 1, max: TIMER_MAX_MS }).default(600_000).describe("How long the reply to the message's final dot may take on this route (as smarthost.data_done_timeout)"),
}), (r, p, is) => {
  // 'default' takes the main smarthost's connection, which is judged there.
  if (r.via !== 'default') checkEachHasTls({ ...r, url: r.via === 'mx' ? undefined : r.via }, p, is);
});

/**
 * Each key a domain (`example.org`), a domain and its subdomains (`.example.org`, `*.example.org`) or `*`; two keys
 * that name one domain (an IDN in both of its forms) are refused, as the later one silently won.
 */
function routeKeyIssues(routes: Record<string, unknown>, p: string, is: Issue[]): void {
  const seen = new Map<string, string>();
  for (const key of Object.keys(routes)) {
    if (key === '*') continue;
    const name = key.replace(/^\*?\./, '');
    const why = notADomain(name);
    if (why) { is.push({ path: `${p}.${key}`, message: `${JSON.stringify(name)} ${why.replace('write a list: domains: [', 'give each its own route: [')}` }); continue; }
    const same = `${key.startsWith('*.') || key.startsWith('.') ? '.' : ''}${comparableDomain(name)}`;
    const first = seen.get(same);
    if (first !== undefined) is.push({ path: `${p}.${key}`, message: `names the same domain as the route ${JSON.stringify(first)}; keep one` });
    else seen.set(same, key);
  }
}

export const routesSchema = s.checked(s.record(s.union(s.union(via, smtpUrlList), routeSchema)), routeKeyIssues).default({})
  .describe("Per-domain routes: `example.org: smtp://10.0.0.5:25`, a list of smarthost URLs tried in order, `gmail.com: mx`, or a mapping with `via` and options; `.example.org` also covers subdomains, `*` every other domain");

export type RouteConfig = Infer<typeof routeSchema>;
export type RoutesConfig = Infer<typeof routesSchema>;
