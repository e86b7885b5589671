// Options of the rbl plugin (IP blocklists and allowlists looked up in DNS), with their defaults.
import net from 'node:net';
import { ipOrCidr, isListingAnswer, s, type Infer, type Issue, findingSymbol } from '../../core/index.ts';

const action = s.enum(['reject', 'reject_rcpt', 'score'] as const);
const zoneName = s.string({ pattern: /^[a-zA-Z0-9_-]+(\.[a-zA-Z0-9_-]+)+$/, patternName: 'a DNS zone such as zen.example.org' });

/**
 * Why `code`, written as a list's answer, could never equal one (lists answer with an A record in 127.0.0.0/8, and
 * other answers are ignored): a key such as `127.0.0.2/32` or `2` would leave its symbol, score or action silently unused.
 */
export function answerCodeProblem(code: string): string | undefined {
  if (net.isIPv4(code) && isListingAnswer(code)) return undefined;
  return `${JSON.stringify(code)} is no answer a list gives, so it would never match: write the address it answers, in 127.0.0.0/8 (not 127.0.0.1, nor one ending in .255), such as 127.0.0.2`;
}

/** Each key of a `codes` mapping judged by answerCodeProblem. */
export function checkAnswerCodes(codes: Record<string, unknown>, at: string, issues: Issue[]): void {
  for (const code of Object.keys(codes)) {
    const problem = answerCodeProblem(code);
    if (problem) issues.push({ path: `${at}.${code}`, message: problem });
  }
}

const codeSchema = s.object({
  symbol: findingSymbol().optionalValue().describe('Symbol of this answer (default: the zone\'s symbol)'),
  score: s.number().optionalValue().describe('Score of this answer (default: the zone\'s score)'),
  action: action.optionalValue().describe('Action for this answer (default: the zone\'s action)'),
});

export const blockZoneSchema = s.object({
  zone: zoneName.describe('The DNSBL zone; the client IP is looked up as `<reversed ip>.<zone>`'),
  action: action.default('score')
    .describe('`reject`: refuse at connect (554 5.7.1; on tls_listen at MAIL FROM, and only a client that did not log in; never on submission_listen); `reject_rcpt`: refuse every RCPT (550 5.7.1) so the client learns the recipients; `score`: only record the finding'),
  symbol: findingSymbol().optionalValue().describe('Symbol of a listing (default: `RBL_` + the zone\'s first label, upper case)'),
  score: s.number().default(5).describe('Score of a listing'),
  codes: s.checked(s.record(codeSchema), checkAnswerCodes).default({})
    .describe('Answers (`127.0.0.2`, `127.0.0.4`, …) mapped to their own symbol, score and action; other 127.x answers use the zone\'s'),
  text: s.string().default('Client {ip} is listed at {zone}')
    .describe('Reply text of a refusal; `{ip}`, `{zone}`, `{code}`, `{symbol}` and `{txt}` (the list\'s TXT record for the client, asked at the same time as its A record only when the text uses it; empty when there is none) are filled in'),
  ipv6: s.boolean().default(true).describe('Look up IPv6 clients (32 reversed nibbles); turn off for IPv4-only lists'),
  on_error: s.enum(['tempfail', 'skip'] as const).default('tempfail')
    .describe('The zone times out or fails: `tempfail` (4xx, the client retries) or `skip` it with an RBL_*_UNAVAILABLE finding of score 0'),
});

export const allowZoneSchema = s.object({
  zone: zoneName.describe('The DNSWL zone'),
  codes: s.array(s.checked(s.string(), (v, at, issues) => {
    const problem = answerCodeProblem(v);
    if (problem) issues.push({ path: at, message: problem });
  })).default([]).describe('Answers that count as listed (empty: any 127.x answer)'),
  symbol: findingSymbol().optionalValue().describe('Symbol of a listing (default: `RBL_ALLOW_` + the zone\'s first label)'),
  score: s.number().default(0).describe('Score of a listing (negative to help the verdict)'),
});

export const configSchema = s.object({
  zones: s.array(blockZoneSchema).default([]).describe('The blocklists, all looked up in parallel'),
  allow_zones: s.array(allowZoneSchema).default([])
    .describe('DNS allowlists (DNSWL): a client listed in one skips every blocklist'),
  allowlist: s.array(ipOrCidr).default([]).describe('IPs and CIDRs that skip every blocklist'),
  skip_private: s.boolean().default(true)
    .describe('Skip RFC 1918, link-local and unique-local clients (loopback is still looked up, so the test address 127.0.0.2 works)'),
});

export type RblConfig = Infer<typeof configSchema>;
export type BlockZone = Infer<typeof blockZoneSchema>;
export type AllowZone = Infer<typeof allowZoneSchema>;
export type ZoneAction = Infer<typeof action>;
