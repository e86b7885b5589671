// Options of the recipient-verify plugin (ask the server behind about each local recipient at RCPT), with their defaults.
import { s, type Infer } from '../../core/index.ts';
import { checkCredentialsHaveTls, smtpUrl } from '../../core/config/smtp-url-schema.ts';
import { routesSchema } from '../../core/relay/route-config.ts';

// The same shapes as the gateway's own `smarthost` and `routes`: another host to ask than the one the gateway relays to
// (see README, "Where the probe goes"). A probe logs in with the URL's credentials as a delivery would, and the client
// sends them over TLS only, so `starttls: off` with credentials would make every probe fail: refused as for the smarthost.
const targetMapping = s.checked(s.object({
  url: smtpUrl.describe('The server behind, as in the gateway\'s `smarthost.url`'),
  starttls: s.enum(['required', 'opportunistic', 'off'] as const).default('opportunistic')
    .describe('STARTTLS policy of the probe (as smarthost.starttls)'),
  tls_verify: s.boolean().default(true)
    .describe('With required TLS or credentials: refuse a certificate that does not verify (as smarthost.tls_verify)'),
}), checkCredentialsHaveTls);

export const configSchema = s.object({
  target: s.union(smtpUrl, targetMapping).optionalValue()
    .describe('Another host to ask instead of where the gateway relays (the shape of the gateway\'s `smarthost`); unset: ask where the gateway relays'),
  routes: routesSchema
    .describe('With `target`: per-domain overrides, the shape of the gateway\'s `routes`: a URL is probed, `default` means `target`, `mx` is not probed'),
  on_error: s.enum(['tempfail', 'pass'] as const).default('tempfail')
    .describe('A 4xx answer, a timeout, a failed connection or too many probes at once: `tempfail` (450 4.1.1) or `pass` the recipient'),
  positive_ttl: s.duration({ min: 1000, max: 366 * 86_400_000 }).default(7 * 86_400_000)
    .describe('How long an address the server behind accepted is remembered'),
  negative_ttl: s.duration({ min: 1000, max: 366 * 86_400_000 }).default(3 * 3_600_000)
    .describe('How long an address the server behind refused (5xx) is remembered'),
  max_probes: s.number({ integer: true, min: 1, max: 200 }).default(8)
    .describe('Probes in flight at once (per gateway); a recipient beyond them gets the on_error answer'),
  probe_timeout: s.duration({ min: 1, max: 24 * 86_400_000 }).default(10_000)
    .describe('Time a whole probe may take (connection to RCPT answer); keep it below the plugin entry\'s `timeout` (30s), the time the chain gives the hook'),
  skip_trusted: s.boolean().default(true)
    .describe('Do not verify for authenticated users and clients in `relay.networks` (their mistakes bounce to a real sender)'),
});

export type RecipientVerifyConfig = Infer<typeof configSchema>;
