// The schema of `queue.bounces`: who gets delivery status notifications, delay notices, and their templates.
import { s, type Infer } from '../config/schema.ts';

/** Who a notice may go to, widest first: `trusted` counts logins and relay.networks clients, `authenticated` logins alone. */
export const BOUNCE_SENDS = ['all', 'trusted', 'authenticated', 'off'] as const;

const templateSchema = s.object({
  subject: s.string().default('').describe('Subject line with {tokens}; empty = the built-in one'),
  text: s.string().default('').describe('Human-readable part with {tokens}; empty = the built-in one'),
}).default({} as never);

export const bounceConfigSchema = s.object({
  send: s.enum(BOUNCE_SENDS).default('all')
    .describe('Who gets failure notices: every sender (all); trusted, only senders who logged in or are in relay.networks, as dkim.sign_for counts them (no backscatter to forged senders); authenticated, only senders who logged in; or nobody (off). A notice withheld from its sender is logged'),
  copy_to: s.string().default('').describe('Also send a copy of every failure notice to this address (empty = none)'),
  postmaster: s.string().default('').describe('From address of notices (default postmaster@<server.hostname>)'),
  delay_notices: s.enum(['off', 'once', 'every'] as const).default('off')
    .describe('Tell the sender a message is still queued: never, once, or after every failed retry'),
  delay_after: s.duration().default(4 * 3_600_000).describe('Age of a message before delay notices start'),
  failure: templateSchema.describe('Template of failure notices'),
  delay: templateSchema.describe('Template of delay notices'),
}).default({} as never);

export type BounceConfig = Infer<typeof bounceConfigSchema>;
