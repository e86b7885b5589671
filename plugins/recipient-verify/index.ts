// Refuses at RCPT the local recipients the server behind would refuse, so that the gateway never has to bounce them to a
// sender who is usually forged (backscatter). Postfix's reject_unverified_recipient, on the gateway's state store.
import { definePlugin, outcome, type HookContext, type Outcome } from '../../core/index.ts';
import { configSchema, type RecipientVerifyConfig } from './config.ts';
import { Targets } from './targets.ts';
import { Verifier } from './verifier.ts';
import { quotable } from './probe.ts';

export default definePlugin({
  name: 'recipient-verify',
  description: 'Asks the server behind the gateway whether it takes each local recipient (MAIL FROM:<>, RCPT TO, QUIT; cached) and refuses those it would refuse',
  configSchema,
  create: (cfg: RecipientVerifyConfig, setup) => {
    const targets = new Targets(cfg);
    const verifier = new Verifier({
      store: setup.services.store, positiveTtl: cfg.positive_ttl, negativeTtl: cfg.negative_ttl,
      maxProbes: cfg.max_probes, heloName: setup.services.hostname,
    });
    const told = new Set<string>();
    return { hooks: { rcptTo: (ctx) => check(cfg, targets, verifier, told, ctx) } };
  },
});

async function check(cfg: RecipientVerifyConfig, targets: Targets, verifier: Verifier, told: Set<string>, ctx: HookContext): Promise<Outcome | void> {
  const rcpt = ctx.rcpt;
  if (!rcpt?.domain || !ctx.services.isLocalDomain(rcpt.domain)) return;
  if (cfg.skip_trusted && ctx.session.trusted) return;
  const where = targets.for(rcpt.domain, (d) => ctx.services.relayTarget(d));
  if (!where.ask) {
    // Once per route, not per recipient: the admin needs to know, the log does not need it a million times.
    if (!told.has(where.key)) {
      told.add(where.key);
      ctx.log.info('recipient-verify does not verify this domain', { domain: rcpt.domain, why: where.why });
    }
    return;
  }
  const to = rcpt.address;
  const v = await verifier.verify(to, where.target, ctx.log);
  if (v.status === 'unknown') {
    ctx.log.warn('recipient verification failed', { to, reason: v.reason, host: where.target.display, action: cfg.on_error });
    if (cfg.on_error === 'pass') return;
    // The reason stays in the log: it names hosts and ports behind the gateway.
    return outcome.tempfail(`<${to}>: Recipient address verification failed temporarily, please try again later`, { code: 450, enhanced: '4.1.1' });
  }
  if (v.status === 'accepted') {
    ctx.log.debug('recipient verified', { to, reply: v.reply, source: v.source });
    return;
  }
  ctx.log.info('recipient refused by the server behind', { to, reply: v.reply, source: v.source, host: where.target.display });
  return outcome.reject(`<${to}>: Recipient address rejected: undeliverable (the next hop answered: ${quotable(v.reply)})`, { code: 550, enhanced: '5.1.1' });
}
