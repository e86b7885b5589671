// Options of the sender-domain plugin (the MAIL FROM domain must be able to receive replies), with their defaults.
import { s, type Infer } from '../../core/index.ts';

export const configSchema = s.object({
  action: s.enum(['reject', 'score'] as const).default('reject')
    .describe('A domain that cannot receive mail: `reject` at MAIL FROM (550) or `score` it'),
  score: s.number().default(4).describe('Score of a SENDER_DOMAIN_* finding with `action: score`'),
  on_error: s.enum(['tempfail', 'skip'] as const).default('tempfail')
    .describe('A lookup that times out or fails: `tempfail` (451 4.4.3) or `skip` with a SENDER_DOMAIN_UNAVAILABLE finding of score 0'),
});

export type SenderDomainConfig = Infer<typeof configSchema>;
