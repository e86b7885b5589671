// The schema of mailmoat.yaml: every key, its default and its meaning (the README's config table is generated from it).
import { s, TIMER_MAX_MS, type Infer, type Issue } from './schema.ts';
import { dnsConfigSchema } from '../dns/config.ts';
import { stateConfigSchema } from '../store/config.ts';
import { RELAY_TIMEOUT_TEXT, routesSchema } from '../relay/route-config.ts';
import { caFile } from '../relay/ca-file-schema.ts';
import { bounceConfigSchema } from '../queue/bounce-config.ts';
import { digestConfigSchema } from '../quarantine/digest-config.ts';
import { ipOrCidr } from './ip-schema.ts';
import { thresholdOrderIssues } from '../verdict/thresholds.ts';
import { domainThresholdIssues, domainThresholdsSchema } from '../verdict/domain-thresholds.ts';
import { OUTBOUND_SENDERS } from '../verdict/outbound-fields.ts';
import { SPAM_FIELD_SETS } from '../verdict/spam-fields.ts';
import { checkReplyText, DEFAULT_REJECT_TEXT, DEFAULT_TEMPFAIL_TEXT } from '../verdict/reply-text.ts';
import { checkEachHasTls, smtpUrls } from '../relay/url-list-schema.ts';
import { parseServer } from '../dns/servers.ts';
import { TLS_MIN_VERSIONS, tlsProtocolIssues } from '../smtp/tls-protocols.ts';
import { proxyProtocolIssues } from '../smtp/proxy-config.ts';
import { DEFAULT_PREFIXES } from '../net/client-counting.ts';
import { notADomain } from './domain-name.ts';
import { addressEntry, recipientsFile } from '../lists/access-schema.ts';
import { senderLoginIssues, senderLoginsFile } from '../auth/sender-logins-schema.ts';
import { dkimConfigSchema } from '../dkim/config.ts';
import { entryNames } from '../plugin/entry-names.ts';

// The port within 0–65535 in the pattern itself: a larger one passed the check and failed only at start.
const PORT = '(?:0|[1-9]\\d{0,3}|[1-5]\\d{4}|6[0-4]\\d{3}|65[0-4]\\d{2}|655[0-2]\\d|6553[0-5])';
const hostPort = s.string({ pattern: new RegExp(`^(\\[[0-9a-fA-F:.]+\\]|[^\\s:]+):${PORT}$`), patternName: 'host:port (IPv6 as [::1]:25)' });
/** A regular expression as compilePolicy (core/runtime.ts) compiles it. */
const pattern = s.checked(s.string(), (v, p, is) => {
  try { new RegExp(v, 'i'); } catch (e) { is.push({ path: p, message: `is not a valid regular expression: ${(e as Error).message}` }); }
});
/** A Node timer given more than 24.8 days fires at once, the opposite of what a long duration asks for. */
function withinTimer(v: number, p: string, is: Issue[]): void {
  if (v > TIMER_MAX_MS) is.push({ path: p, message: 'is longer than a timer can wait (at most 24d)' });
}
/** withinTimer, and above 0 where 0 would not mean what it says (`zero` tells what it would mean). */
function timerRange(zero: string) {
  return (v: number, p: string, is: Issue[]) => { if (v === 0) is.push({ path: p, message: zero }); else withinTimer(v, p, is); };
}

/**
 * One entry of `domains`. A mistyped entry passed and then matched no recipient, so the gateway refused all of its own
 * mail as relaying (554): a Postfix-style `"a.example, b.example"`, an address, a name with spaces.
 */
const localDomain = s.checked(s.string(), (v, p, is) => {
  const why = notADomain(v);
  if (why) is.push({ path: p, message: `${JSON.stringify(v)} ${why}` });
});


const smarthostSchema = s.checked(s.object({
  url: smtpUrls.describe('Where accepted mail is relayed: a URL, or a list of URLs tried in order within each attempt (the next when one cannot be reached or answers 4xx, as MX hosts are)'),
  starttls: s.enum(['required', 'opportunistic', 'off'] as const).default('opportunistic')
    .describe('STARTTLS policy for smtp:// URLs: required (no TLS, no delivery), opportunistic (TLS when offered, any certificate; plaintext when not offered or the handshake fails, unless credentials are set), off (refused with credentials: they are sent over TLS only)'),
  tls_verify: s.boolean().default(true).describe("With required TLS (starttls: required, smtps://) or credentials in the URL: refuse a certificate that does not verify against the trusted CAs (the system store, e.g. update-ca-certificates, and Node's CA list; or tls_ca_file) and the host: a name against the certificate's DNS names, an address against its IP addresses"),
  tls_ca_file: caFile.optionalValue().describe("PEM bundle of the CAs to trust instead of the system store and Node's CA list (Postfix's smtp_tls_CAfile); an absolute path, read at each connection"),
  connections: s.number({ integer: true, min: 1, max: 200 }).default(8).describe('Pooled connections to the smarthost'),
  // 0 would turn the socket timeout off: a smarthost that stops answering would hold its connections for ever.
  timeout: s.duration({ min: 1, max: TIMER_MAX_MS }).optionalValue().describe(RELAY_TIMEOUT_TEXT),
  // No default: unset, it follows an explicit `timeout` (stage-timeouts.ts), as the connect did before it existed.
  connect_timeout: s.duration({ min: 1, max: TIMER_MAX_MS }).optionalValue().describe("How long a TCP connection to the smarthost may take (Postfix's smtp_connect_timeout); unset, `timeout` when that is set (as before connect_timeout existed), else 30s"),
  data_done_timeout: s.duration({ min: 1, max: TIMER_MAX_MS }).default(600_000).describe("How long the reply to the message's final dot may take (Postfix's smtp_data_done_timeout): a smarthost that scans before it answers is waited for, not sent the message again"),
}), checkEachHasTls);

/**
 * A cap for a plugin that is not in the chain caps nothing, silently (a typo such as `rbll`). Findings carry their
 * entry's name (`clamav#2` for a second entry named clamav), a plugin loaded by `module` too, so those are all a cap
 * can name.
 */
function unknownCapIssues(cfg: { plugins: Array<{ name: string; module?: string }>; scores: { max_per_plugin: Record<string, number> } }, p: string): Issue[] {
  const names = new Set(entryNames(cfg.plugins));
  return Object.keys(cfg.scores.max_per_plugin).filter((k) => !names.has(k)).map((k) => ({
    path: `${p ? `${p}.` : ''}scores.max_per_plugin.${k}`,
    message: `names no plugin in plugins (${[...names].join(', ') || 'none'}): it would cap nothing`,
  }));
}

export const gatewaySchema = s.checked(s.object({
  server: s.object({
    hostname: s.string().default('').describe('Name in the greeting and Received headers (default: the machine name)'),
    listen: s.array(hostPort).default(['127.0.0.1:2525']).describe('Plain SMTP listeners with STARTTLS'),
    tls_listen: s.array(hostPort).default([]).describe('Implicit-TLS listeners (SMTPS)'),
    submission_listen: s.array(hostPort).default([]).describe('Submission listeners: AUTH required, after TLS'),
    trusted_proxies: s.array(ipOrCidr).default([]).describe('CIDRs allowed to use XCLIENT and the PROXY protocol'),
    proxy_protocol: s.boolean().default(false).describe('Expect a PROXY protocol header, v1 or v2 (told apart by its first bytes), from every peer in trusted_proxies on listen and submission_listen (not tls_listen); refused without trusted_proxies. A reload applies it to new connections'),
    proxy_timeout: s.checked(s.duration(), timerRange('must be above 0 (a header needs time to arrive)')).default(5000).describe('Time from a trusted proxy\'s connection to the last byte of its PROXY header, however steadily the bytes come (Postfix\'s smtpd_upstream_proxy_timeout); past it the connection is closed and `PROXY header timed out` logged'),
    greeting_delay: s.checked(s.duration(), withinTimer).default(100).describe('Least time before the 220 greeting; a client that talks earlier is refused as an early talker (0 = greet once the connect hooks are done)'),
    tls: s.checked(s.object({
      cert: s.string().optionalValue().describe('PEM certificate file: the server\'s own certificate first, then its chain; a self-signed one is generated under data_dir when unset'),
      key: s.string().optionalValue().describe('PEM private key file, without a passphrase'),
      min_version: s.enum(TLS_MIN_VERSIONS).default('TLSv1.2').describe('Oldest TLS version offered on every TLS listener (STARTTLS, implicit TLS, submission, HTTPS); Postfix\'s smtpd_tls_protocols'),
      ciphers: s.string().optionalValue().describe('OpenSSL cipher list for TLS 1.2 (TLS_… names in it replace the TLS 1.3 suites); default Node\'s list, which puts forward-secret AEAD ciphers first and keeps older ones for old senders (README: TLS certificate, versions and ciphers)'),
    }), tlsProtocolIssues).default({} as never),
    banner: s.string().default('Mailmoat').describe('Text after the hostname in the greeting'),
    // smtp-server reads 0 as its own default of 1m, not as "never".
    idle_timeout: s.checked(s.duration(), timerRange('must be above 0 (0 would not turn the idle timeout off: it would be 1m)')).default(300_000).describe("Idle time before a client is disconnected with 421 4.4.2: RFC 5321's server timeout and Postfix's smtpd_timeout. Under stress idle clients get stress_idle_timeout instead; within DATA a client may pause at least 3m between blocks (the RFC's data block time), limits.data_timeout bounding the whole message"),
    // 1 is Postfix's own mark: stress when every process slot is taken.
    stress_threshold: s.number({ min: 0, max: 1 }).default(0.8).describe('Share of limits.max_connections open at which the gateway enters stress, as Postfix\'s smtpd does: idle clients get stress_idle_timeout, and limits.max_errors and max_junk_commands drop to 1; a message from its 354 to its final dot, relay.networks, access.allow_ips and logged-in clients are exempt. Stress ends when connections fall below three quarters of the mark (0 = never; 1 = only at max_connections)'),
    stress_idle_timeout: s.checked(s.duration(), timerRange('must be above 0 (an idle client needs time to send its next command)')).default(10_000).describe('Idle time, and time to complete a command line, before a client is disconnected with 421 4.4.2 while the gateway is in stress (Postfix\'s smtpd_timeout under stress); above idle_timeout it changes nothing'),
    auth_on_listen: s.boolean().default(true).describe('Offer AUTH after STARTTLS on the plain `listen` listeners (false: their EHLO lists no AUTH and AUTH gets 503 5.5.1, as Postfix has it off on port 25, leaving no password to guess on the MX). Set false when users submit on submission_listen or tls_listen, which always offer it; a trusted proxy\'s XCLIENT LOGIN= still works. A reload applies it to the next EHLO and AUTH'),
    received_for_authenticated: s.enum(['full', 'hide_client'] as const).default('full').describe('The gateway\'s Received field for a logged-in client: full names its HELO name and address; hide_client writes `from authenticated-user` instead, keeping by, with ESMTPSA, the id and the date (README: What the gateway adds to a message)'),
  }).default({} as never),
  domains: s.array(localDomain).default([]).describe('Local domains: mail to them is accepted from anyone. Each a domain name (one trailing dot allowed), exactly: subdomains are not included; an internationalized name in its Unicode form (bücher.example) or its xn-- form'),
  relay: s.object({
    networks: s.array(ipOrCidr).default([]).describe('CIDRs allowed to relay to any domain without AUTH'),
  }).default({} as never),
  smarthost: s.union(smtpUrls, smarthostSchema).optionalValue()
    .describe('Relay target: a URL, a list of URLs tried in order (Postfix\'s relayhost with smtp_fallback_relay), or a mapping with `url` and options; a host name is looked up by the system resolver, not dns.servers. When unset, accepted mail is written as .eml files under data_dir/delivered/'),
  routes: routesSchema,
  data_dir: s.string().default('./data').describe('Where the spool, queue, quarantine and state live; kept 0700, made so at start when it is open to others'),
  auth: s.checked(s.object({
    users_file: s.string().default('').describe('AUTH users file (default data_dir/users); manage it with `moat user`'),
    sender_logins: senderLoginsFile.optionalValue().describe('Absolute path of a file saying which logins own which sender addresses (Postfix\'s smtpd_sender_login_maps): per line an address or @domain, then its logins separated by commas or spaces (`@example.com alice,bob`); `#` comments. An address is matched as blocked_senders matches (case, quotes, IDN form, a tag after recipient_delimiter), its own line first, then its domain\'s. Read at start and at each reload, which an unreadable or empty file refuses'),
    enforce_sender_login: s.boolean().default(false).describe('Refuse MAIL FROM with 553 5.7.1 when a logged-in client\'s sender is not owned by its login in sender_logins, or when a client that did not log in on submission_listen or tls_listen (relay.networks excepted) uses an address a login owns (Postfix\'s reject_sender_login_mismatch); the null sender passes. Off, a mismatch is only logged'),
  }), senderLoginIssues).default({} as never),
  limits: s.object({
    // 0 would refuse every message as too big, where Postfix reads it as "no limit".
    max_message_size: s.checked(s.size(), (v, p, is) => { if (v === 0) is.push({ path: p, message: 'must be above 0 (0 would refuse every message; there is no unlimited size)' }); }).default(25 * 1024 * 1024).describe('Largest message accepted (SIZE); larger ones get 552'),
    max_recipients: s.number({ integer: true, min: 1 }).default(100).describe('Recipients per message; more get 452'),
    // Postfix's smtpd_recipient_overshoot_limit and its default.
    max_recipient_overshoot: s.number({ integer: true, min: 0 }).default(1000).describe('Recipients past max_recipients one connection may name, each answered 452 4.5.3 without counting toward max_errors (the client is to send them in a new transaction); each one past this counts, so a client that goes on naming them is disconnected; Postfix\'s smtpd_recipient_overshoot_limit'),
    max_connections: s.number({ integer: true, min: 1 }).default(1000).describe('Connections at once; more get 421'),
    max_connections_per_ip: s.number({ integer: true, min: 1 }).default(20).describe('Connections at once from one client (its address, or its network under ipv4_prefix / ipv6_prefix); more get 421; relay.networks and access.allow_ips are exempt (as Postfix exempts $mynetworks) but still count toward max_connections; connections from a trusted proxy each count under the client its XCLIENT names'),
    max_errors: s.number({ integer: true, min: 1 }).default(10).describe('Refused commands or recipients (every 4xx and 5xx, as Postfix\'s smtpd_hard_error_limit, except 452 4.5.3 too many recipients (up to max_recipient_overshoot of them) and 4.3.x replies for our own trouble) before the client is disconnected'),
    error_block: s.duration().default(0).describe('After max_errors, refuse the client (its network under ipv4_prefix / ipv6_prefix) for this long (0 = no block)'),
    max_junk_commands: s.number({ integer: true, min: 1 }).default(100).describe('NOOP, VRFY, ETRN, RSET and HELP commands a client may send (counted again from 0 after each message taken) before it gets 421 and is disconnected; Postfix\'s smtpd_junk_command_limit'),
    // The header section is held in memory while it arrives (plugins read it from there), so this bounds that memory.
    max_header_size: s.size({ min: 1024 }).default(256 * 1024).describe('Largest header section (its fields and the empty line after them); a message with a larger one gets 552 5.3.4 after its final dot'),
    // Postfix's hopcount_limit and its default; below 2 every message would be refused, as ours is always one hop.
    max_hops: s.number({ integer: true, min: 2 }).default(50).describe('A message whose Received fields, with the one the gateway adds, number this many or more is refused after its final dot with 554 5.4.6 Too many hops and a warning (mail loop), before any plugin sees it; Postfix\'s hopcount_limit, counted as it counts (Received only)'),
    data_timeout: s.checked(s.duration(), timerRange('must be above 0 (a message needs time to arrive)')).default(600_000).describe('Time from the 354 to the final dot, however steadily the message trickles in; past it the client gets 421 4.4.2 and is disconnected'),
    max_auth_failures: s.number({ integer: true, min: 0 }).default(5).describe('Failed AUTH attempts from one client (its network under ipv4_prefix / ipv6_prefix; not relay.networks or access.allow_ips) after which its AUTH is refused with 454 without checking the password (0 = no limit)'),
    auth_failure_block: s.duration({ min: 1000, max: TIMER_MAX_MS }).default(600_000).describe('How long AUTH stays refused after the failure that reached the limit, and how close failures must follow each other to count together'),
    // Postfix's smtpd_client_ipv4/ipv6_prefix_length. Shorter prefixes than these lump unrelated networks together (a
    // /16 is a whole provider's pool; a /32 is a whole IPv6 provider), which is a mistake rather than a policy.
    ipv4_prefix: s.number({ integer: true, min: 16, max: 32 }).default(DEFAULT_PREFIXES.v4).describe('IPv4 clients in one network of this prefix length count as one client for max_connections_per_ip, the rate limits, error_block and the AUTH failure ban (32 = per address; IPv4-mapped IPv6 addresses are IPv4; relay.networks, access.allow_ips and server.trusted_proxies always count per address)'),
    ipv6_prefix: s.number({ integer: true, min: 32, max: 128 }).default(DEFAULT_PREFIXES.v6).describe('The same for IPv6 clients: 64 counts each /64 (a site\'s smallest network, whose every address one host may use) as one client; 128 = per address'),
    // Postfix's anvil limits, off by default as there: a rate that suits one site's busiest sender refuses another's.
    connection_rate: s.number({ integer: true, min: 0 }).default(0).describe('Connections one client (counted as for max_connections_per_ip) may open per rate_window; more get 421 4.7.0 at the greeting and are closed. Every attempt counts, refused ones too; relay.networks, access.allow_ips and trusted proxies\' own addresses are exempt; Postfix\'s smtpd_client_connection_rate_limit (0 = no limit)'),
    message_rate: s.number({ integer: true, min: 0 }).default(0).describe('MAIL FROM commands one client may send per rate_window, over all its connections; more get 450 4.7.1; Postfix\'s smtpd_client_message_rate_limit (0 = no limit)'),
    recipient_rate: s.number({ integer: true, min: 0 }).default(0).describe('RCPT TO commands one client may send per rate_window, over all its connections; more get 450 4.7.1; Postfix\'s smtpd_client_recipient_rate_limit (0 = no limit)'),
    // By login, not address: a stolen password used from many addresses, and users sharing one NAT address.
    user_message_rate: s.number({ integer: true, min: 0 }).default(0).describe('MAIL FROM commands one logged-in user (AUTH or XCLIENT LOGIN) may send per rate_window, over all its connections and addresses; more get 450 4.7.1 Message rate limit exceeded for user NAME. While set, a logged-in client\'s MAIL FROMs count under its login only, not toward its address\'s message_rate (0 = no limit: they count by address)'),
    user_recipient_rate: s.number({ integer: true, min: 0 }).default(0).describe('RCPT TO commands one logged-in user may send per rate_window, over all its connections and addresses; more get 450 4.7.1. While set, a logged-in client\'s RCPT TOs count under its login only, not toward its address\'s recipient_rate (0 = no limit: they count by address)'),
    rate_window: s.duration({ min: 1000, max: TIMER_MAX_MS }).default(60_000).describe('The time connection_rate, message_rate, recipient_rate and the user rates are counted over: the last rate_window before each attempt; Postfix\'s anvil_rate_time_unit'),
  }).default({} as never),
  access: s.object({
    allow_ips: s.array(ipOrCidr).default([]).describe('Client CIDRs exempt from deny_ips, helo_deny, helo_required_fqdn and blocklist-style checks (not from the address lists: blocked_recipients, blocked_senders, recipients_file)'),
    deny_ips: s.array(ipOrCidr).default([]).describe('Client CIDRs refused at connect (554)'),
    blocked_recipients: s.array(addressEntry).default([]).describe('Recipient addresses (or @domain) refused at RCPT with 550 5.7.1, matched by mailbox: case, quotes, a trailing dot and a tag after recipient_delimiter make no difference; also applied to redirect targets and recipients plugins add'),
    blocked_senders: s.array(addressEntry).default([]).describe('Sender addresses (or @domain) refused at MAIL FROM with 550 5.7.1 Sender address rejected: Access denied, matched as blocked_recipients (Postfix\'s check_sender_access REJECT)'),
    recipient_delimiter: s.string({ pattern: /^[^\s@"\\]*$/, patternName: 'characters other than spaces, @, " and \\' }).default('+').describe('Characters that start an address tag (user+tag@): the address lists and recipients_file match the address without it, as Postfix\'s recipient_delimiter (each character is a delimiter; \'\' = no tags)'),
    recipients_file: recipientsFile.optionalValue().describe('Absolute path of a file of the valid addresses of the local domains (Postfix\'s relay_recipient_maps): one per line, `#` comments, @domain for every address of a domain, a word after the address ignored; any other recipient of a local domain gets 550 5.1.1 User unknown at RCPT. Matched as blocked_recipients; read at start and at each reload, which an unreadable or empty file refuses'),
    helo_deny: s.array(pattern).default([]).describe('Regular expressions; a matching HELO/EHLO gets 554 and the connection is closed (relay.networks, allow_ips and logged-in clients are exempt)'),
    helo_required_fqdn: s.boolean().default(false).describe('Refuse mail from a client whose HELO/EHLO name is invalid (501 5.5.2) or not fully qualified (504 5.5.2; an address literal such as [192.0.2.1] is fine), at each RCPT as Postfix\'s smtpd_delay_reject does; a new HELO with a proper name mends it; relay.networks, allow_ips and logged-in clients are exempt (Postfix\'s reject_invalid_helo_hostname and reject_non_fqdn_helo_hostname)'),
    require_fqdn_addresses: s.boolean().default(false).describe('Refuse a sender (at MAIL FROM) or recipient (at RCPT) whose domain is not fully qualified with 504 5.5.2; the null sender and local domains without a dot are fine (Postfix\'s reject_non_fqdn_sender and reject_non_fqdn_recipient)'),
  }).default({} as never),
  smtp: s.object({
    bare_lf: s.enum(['normalize', 'reject'] as const).default('normalize').describe('DATA with a bare CR or LF: rewrite to CRLF or refuse (SMTP smuggling defence)'),
  }).default({} as never),
  plugins: s.array(s.object({
    name: s.string({ pattern: /^[a-z0-9][a-z0-9_.-]*$/, patternName: 'a plugin id such as rbl' }).describe('Plugin id: plugins/<name>/'),
    module: s.string().optionalValue().describe('Path of a plugin module outside plugins/'),
    required: s.boolean().default(false).describe('Stop the start when the plugin cannot run (instead of disabling it)'),
    timeout: s.duration({ min: 1, max: TIMER_MAX_MS }).default(30_000).describe('Time allowed per hook call; past it the client gets a tempfail'),
  }, { open: true })).default([]).describe('The ordered chain of plugins'),
  // Checked as a whole: the verdict tries the thresholds by severity, so one out of order is an action never taken.
  scores: s.checked(s.object({
    add_header: s.number().optionalValue().default(5).describe('Total score from which spam headers are added'),
    quarantine: s.number().optionalValue().describe('Total score from which the message is quarantined'),
    reject: s.number().optionalValue().default(15).describe('Total score from which the message is refused with 550'),
    tempfail: s.number().optionalValue().describe('Total score from which the message is deferred with 451'),
    levels: s.object({
      low: s.number().default(5).describe('Total score from which X-Mailmoat-Spam-Level (and the verdict header\'s level) says Low'),
      medium: s.number().default(8).describe('Total score from which the spam level is Medium'),
      high: s.number().default(12).describe('Total score from which the spam level is High'),
    }).default({} as never).describe('Spam level thresholds for X-Mailmoat-Spam-Level'),
    subject_tag: s.string().default('').describe('Prefix added to the Subject of tagged spam (empty = none)'),
    max_per_plugin: s.record(s.number({ min: 0 }).describe('The most that plugin\'s positive findings add together')).default({}).describe('Most that the positive findings of one plugin (by its name in plugins) add to the total together, as Rspamd\'s group max_score: `{ rbl: 5 }` counts two blocklists of 3.5 as 5; its negative findings count in full. The verdict header says `capped=rbl(7->5)`'),
    reject_text: s.checked(s.string(), checkReplyText).default(DEFAULT_REJECT_TEXT).describe('Text of the 550 5.7.1 for a message the score refuses; `{score}` puts the score in (the default leaves it out: a sender would tune against it)'),
    tempfail_text: s.checked(s.string(), checkReplyText).default(DEFAULT_TEMPFAIL_TEXT).describe('Text of the 451 4.7.1 for a message the score defers; `{score}` as in reject_text'),
    domains: domainThresholdsSchema.describe('Thresholds per recipient domain (a hosting provider\'s customers): `{ custb.example: { quarantine: null, reject: null }, custa.example: { reject: 10 } }`; each key left out is the global one. A message is judged by the thresholds of its first recipient\'s domain: a recipient whose thresholds differ is answered 452 4.5.3 and sent by the client in another transaction (README: Thresholds per domain)'),
  }), (v, p, is) => is.push(...thresholdOrderIssues(v, p), ...domainThresholdIssues(v, p))).default({} as never),
  headers: s.object({
    outbound_without_verdict: s.array(s.enum(OUTBOUND_SENDERS)).default(['authenticated']).describe('Clients whose mail to any recipient outside domains leaves without the gateway\'s X-Mailmoat-* fields (the verdict\'s, and those plugins write there, such as X-Mailmoat-Bayes), so the filter\'s thresholds and plugins are not shown to the world: authenticated (a login, XCLIENT LOGIN= too), relay_networks. Mail to local domains only keeps them; a message with local and outside recipients leaves without them for all ([] = always add them)'),
    spam_fields: s.checked(s.array(s.enum(SPAM_FIELD_SETS)), (v, p, is) => {
      if (!v.length) is.push({ path: p, message: 'names no spam fields: [mailmoat] writes X-Mailmoat-Spam, -Spam-Score and -Spam-Level (the default), [spamassassin] X-Spam-Flag, -Status and -Level' });
    }).default(['mailmoat']).describe('The spam fields the verdict writes beside X-Mailmoat-Verdict: mailmoat (X-Mailmoat-Spam: Yes or No, X-Mailmoat-Spam-Score, X-Mailmoat-Spam-Level), spamassassin (X-Spam-Flag: YES on spam only; X-Spam-Status: Yes or No, score=7.2 required=5.0 tests=A,B; X-Spam-Level: one * per whole point, at most 50), or both. With spamassassin the X-Spam and X-Spam-* fields a client sent are removed first (README: Spam fields for the server behind)'),
  }).default({} as never),
  dkim: dkimConfigSchema.describe('DKIM signing of the mail users send out through the gateway (README: DKIM signing)'),
  queue: s.object({
    retry_schedule: s.array(s.duration({ min: 100 })).default([900_000, 1_800_000, 3_600_000, 14_400_000]).describe('Delays between delivery attempts; the last repeats'),
    lifetime: s.duration().default(4 * 86_400_000).describe('After this, a message that still fails goes to dead-letter'),
    // No default: unset, mail from <> keeps the lifetime it had before this key existed (queue.lifetime).
    bounce_lifetime: s.duration().optionalValue().describe("After this, a message from the null sender (a bounce or other delivery notice, ours or relayed) that still fails goes to dead-letter, as other mail does after lifetime, and is never bounced (Postfix's bounce_queue_lifetime). Unset, or longer than lifetime: lifetime. 0 = at its first failure (a destination held as down counting as one)"),
    quarantine_lifetime: s.duration({ min: 1000 }).optionalValue().default(30 * 86_400_000).describe('A quarantined message not released is deleted after this (null = kept until an admin deletes it)'),
    deadletter_lifetime: s.duration({ min: 1000 }).optionalValue().default(30 * 86_400_000).describe('A dead-lettered message is deleted this long after it was moved there (null = kept)'),
    concurrency: s.number({ integer: true, min: 1, max: 500 }).default(20).describe('Deliveries in flight at once'),
    max_per_destination: s.number({ integer: true, min: 1, max: 200 }).default(10).describe('Connections at once to one destination host on routes (a route may set its own)'),
    max_outbound_size: s.size().default(0).describe('Largest message relayed; larger ones bounce with 552 (0 = no cap; a route may set its own)'),
    journal: s.boolean().default(true).describe('Small messages (up to 128 KB) are appended to shared journal segments with one group fsync, not written as a file each (see core/queue/README.md)'),
    bounces: bounceConfigSchema.describe('Delivery status notifications: who gets them, delay notices, templates'),
  }).default({} as never),
  // The resolver reads its server list only at start: an entry it cannot use is named here, by check-config too.
  dns: s.checked(dnsConfigSchema, (v, p, is) => v.servers.forEach((x, i) => {
    try { parseServer(x); } catch (e) { is.push({ path: `${p}.servers[${i}]`, message: (e as Error).message.replace(/^dns\.servers: /, '') }); }
  })),
  state: stateConfigSchema,
  http: s.object({
    listen: s.array(hostPort).default([]).describe('Admin HTTP listeners: GET /metrics (Prometheus), /health/live and /health/ready (load balancers, systemd, Kubernetes); empty = none. Changed only on restart, as the SMTP listeners'),
    allow_from: s.array(ipOrCidr).default(['127.0.0.1/32', '::1/128']).describe('Client CIDRs that may use the admin routes (/metrics and /health/…); others get 403. The quarantine pages under /quarantine/ are not governed by it: a recipient opens them from anywhere, with the ticket of their link, while quarantine_digest.link_base is set. A reload applies it to the next request'),
    tls: s.boolean().default(false).describe('Serve HTTPS on http.listen with the SMTP listeners\' certificate (server.tls, or the self-signed one under data_dir). Changed only on restart; a reload\'s new certificate is used'),
    trusted_proxies: s.array(ipOrCidr).default([]).describe('Reverse proxies (nginx, HAProxy) in front of http.listen: from these peers the client is the right-most X-Forwarded-For address that is not a trusted proxy, and X-Forwarded-Proto: https counts as HTTPS; from any other peer those headers are ignored. A reload applies it to the next request'),
    max_connections: s.number({ integer: true, min: 1 }).default(200).describe('Connections open at once on http.listen, from all clients; more are closed at once, unanswered, logged (a warning at most once a minute, with counts) and counted in mailmoat_http_connections_refused_total. A reload applies it to the next connection'),
    max_connections_per_ip: s.number({ integer: true, min: 1 }).default(20).describe('Connections open at once on http.listen from one client (its address; an IPv6 client\'s /64); more are closed as for max_connections. Peers in http.trusted_proxies and http.allow_from are exempt but count toward max_connections. A reload applies it to the next connection'),
  }).default({} as never),
  quarantine_digest: digestConfigSchema.describe('A mail to each recipient listing what was quarantined for them, with links to release or delete each message (Proxmox Mail Gateway\'s spam report)'),
  log: s.object({
    level: s.enum(['debug', 'info', 'warn', 'error'] as const).default('info').describe('Least severe log lines written'),
    format: s.enum(['auto', 'json', 'text'] as const).default('auto').describe('auto = text on a terminal, JSON lines otherwise'),
  }).default({} as never),
}), (cfg, p, is) => {
  is.push(...unknownCapIssues(cfg, p));
  is.push(...proxyProtocolIssues(cfg.server, p));
  // The links are the recipient's only key, so their pages answer over HTTPS only (core/quarantine/http-handlers.ts):
  // HTTPS of the listener itself, or of a trusted reverse proxy that says so in X-Forwarded-Proto.
  if (cfg.quarantine_digest.link_base !== undefined && (!cfg.http.listen.length || (!cfg.http.tls && !cfg.http.trusted_proxies.length))) {
    const at = p ? `${p}.quarantine_digest.link_base` : 'quarantine_digest.link_base';
    is.push({ path: at, message: 'needs http.listen with http.tls: true, or with http.trusted_proxies naming the reverse proxy that serves it over HTTPS: its release and delete pages answer over HTTPS only, so every link would fail' });
  } else if (cfg.quarantine_digest.link_base !== undefined && !cfg.http.trusted_proxies.length && URL.canParse(cfg.quarantine_digest.link_base)
    && new URL(cfg.quarantine_digest.link_base).pathname.replace(/\/+$/, '') !== '') {
    const at = p ? `${p}.quarantine_digest.link_base` : 'quarantine_digest.link_base';
    is.push({ path: at, message: 'has a path, but the gateway answers /quarantine/… at its root: leave the path out, or serve it through a reverse proxy that strips the path (http.trusted_proxies)' });
  }
});

export type GatewayConfig = Infer<typeof gatewaySchema>;
export type PluginEntry = GatewayConfig['plugins'][number] & Record<string, unknown>;
export type SmarthostConfig = Infer<typeof smarthostSchema>;
