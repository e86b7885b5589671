// Options of the ptr plugin (reverse DNS of unauthenticated clients), with their defaults.
import { s, type Infer } from '../../core/index.ts';

export const configSchema = s.object({
  mode: s.enum(['never', 'reject', 'score'] as const).default('score')
    .describe('`never`: no check; `reject`: refuse MAIL FROM (550 5.7.25) from a client without PTR (or not confirmed, with fcrdns); `score`: record a finding'),
  fcrdns: s.boolean().default(false)
    .describe('Also require forward-confirmed reverse DNS: one PTR name must resolve back to the client IP'),
  score: s.number().default(3).describe('Score of PTR_MISSING with `mode: score`'),
  fcrdns_score: s.number().default(2).describe('Score of PTR_NOT_CONFIRMED with `mode: score`'),
  text: s.string().default('Client {ip} has no valid reverse DNS (PTR) record')
    .describe('Refusal text; `{ip}` is filled in'),
  on_error: s.enum(['tempfail', 'skip'] as const).default('tempfail')
    .describe('A lookup that times out or fails: `tempfail` (450 4.7.25) or `skip` with a PTR_UNAVAILABLE finding of score 0'),
});

export type PtrConfig = Infer<typeof configSchema>;
