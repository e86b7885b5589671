// The schema of `queue.bounces`: who gets delivery status notifications, delay notices, and their templates.
import { s, type Infer } from '../config/schema.ts';

const templateSchema = s.object({
  subject: s.string().default('').describe('Subject line with {tokens}; empty = the built-in one'),
  text: s.string().default('').describe('Human-readable part with {tokens}; empty = the built-in one'),
}).default({} as never);

export const bounceConfigSchema = s.object({
  send: s.enum(['all', 'authenticated', 'off'] as const).default('all')
    .describe('Who gets failure notices: every sender, only senders who authenticated (no backscatter to forged senders), or nobody'),
  copy_to: s.string().default('').describe('Also send a copy of every failure notice to this address (empty = none)'),
  postmaster: s.string().default('').describe('From address of notices (default postmaster@<server.hostname>)'),
  delay_notices: s.enum(['off', 'once', 'every'] as const).default('off')
    .describe('Tell the sender a message is still queued: never, once, or after every failed retry'),
  delay_after: s.duration().default(4 * 3_600_000).describe('Age of a message before delay notices start'),
  failure: templateSchema.describe('Template of failure notices'),
  delay: templateSchema.describe('Template of delay notices'),
}).default({} as never);

export type BounceConfig = Infer<typeof bounceConfigSchema>;
