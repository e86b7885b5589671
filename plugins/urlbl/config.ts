// Options of the urlbl plugin (URL host blocklists in DNS: DBL/SURBL-style domain lists and IP lists), with their defaults.
import { s, type Infer, findingSymbol } from '../../core/index.ts';
import { checkAnswerCodes } from '../rbl/config.ts';

const action = s.enum(['score', 'reject', 'defang'] as const);

const codeSchema = s.object({
  symbol: findingSymbol().optionalValue().describe('Symbol of this answer (default: the zone\'s symbol)'),
  score: s.number().optionalValue().describe('Score of this answer (default: the zone\'s score)'),
  action: action.optionalValue().describe('Action for this answer (default: the zone\'s action)'),
});

export const zoneSchema = s.object({
  zone: s.string({ pattern: /^[a-zA-Z0-9_-]+(\.[a-zA-Z0-9_-]+)+$/, patternName: 'a DNS zone such as dbl.example.org' })
    .describe('The list\'s zone'),
  type: s.enum(['domain', 'ip'] as const).default('domain')
    .describe('`domain`: looks up `<registered domain>.<zone>`; `ip`: looks up the reversed IP of URLs written with an IP'),
  action: action.default('score')
    .describe('`score`: record the finding; `reject`: refuse the message (554 5.7.1); `defang`: replace each listed link with the defang text'),
  symbol: findingSymbol().optionalValue().describe('Symbol of a listing (default: `URIBL_` + the zone\'s first label, upper case)'),
  score: s.number().default(5).describe('Score of a listing (once per zone and symbol, however many links)'),
  codes: s.checked(s.record(codeSchema), checkAnswerCodes).default({}).describe('Answers (`127.0.1.2`, …) mapped to their own symbol, score and action'),
  on_error: s.enum(['tempfail', 'skip'] as const).default('tempfail')
    .describe('The zone times out or fails: `tempfail` (451 4.4.3) or `skip` with a URIBL_*_UNAVAILABLE finding of score 0'),
  bitmask: s.boolean().default(false)
    .describe('The last octet of an answer is a sum of bits (SURBL multi: 127.0.0.68 = 64 + 4); each `codes` entry whose bits are all set applies'),
});

export const configSchema = s.object({
  zones: s.array(zoneSchema).default([]).describe('The lists, all looked up in parallel'),
  skip_domains: s.array(s.string()).default([]).describe('Registered domains never looked up (your own, big providers)'),
  max_hosts: s.number({ integer: true, min: 1, max: 500 }).default(30)
    .describe('Distinct domains and IPs looked up per message; the rest are ignored'),
  text: s.string().default('Message contains a link to {host}, listed at {zone}')
    .describe('Refusal text; `{host}`, `{zone}`, `{code}` and `{txt}` (the list\'s TXT record for the host, asked at the same time as its A record only when the text uses it; empty when there is none) are filled in'),
  defang_text: s.string().default('link removed').describe('What replaces a listed link with the `defang` action'),
});

export type UrlblConfig = Infer<typeof configSchema>;
export type UrlZone = Infer<typeof zoneSchema>;
export type UrlAction = Infer<typeof action>;
