// Refuses at RCPT the local recipients the server behind would refuse, so that the gateway never has to bounce them to a
// sender who is usually forged (backscatter). Postfix's reject_unverified_recipient, on the gateway's state store.
import { definePlugin, outcome, type HookContext, type Outcome } from '../../core/index.ts';
import { configSchema, type RecipientVerifyConfig } from './config.ts';
import { Targets } from './targets.ts';
import { Verifier, type Verification } from './verifier.ts';
import { quotable } from './probe.ts';

export default definePlugin({
  name: 'recipient-verify',
  description: 'Asks the server behind the gateway whether it takes each local recipient (MAIL FROM:<>, RCPT TO, QUIT; cached) and refuses those it would refuse',
  configSchema,
  // It refuses recipients and records no finding.
  emits: () => ({ symbols: [] }),
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

/** What the server behind said about one address the recipient goes to. */
type Answer = { to: string; host?: string; v: Verification };

async function check(cfg: RecipientVerifyConfig, targets: Targets, verifier: Verifier, told: Set<string>, ctx: HookContext): Promise<Outcome | void> {
  const rcpt = ctx.rcpt;
  if (!rcpt) return;
  if (cfg.skip_trusted && ctx.session.trusted) return;
  // An alias's own name is no mailbox: the addresses an earlier plugin redirected it to are what the server behind
  // must take, as Postfix probes through virtual alias expansion.
  const goesTo = ctx.rcptTargets ?? [rcpt];
  const redirected = goesTo.length !== 1 || goesTo[0].address.toLowerCase() !== rcpt.address.toLowerCase();
  const about = redirected ? { redirected_from: rcpt.address } : {};
  const asked: Array<() => Promise<Answer>> = [];
  const seen = new Set<string>();
  for (const t of goesTo) {
    if (seen.has(t.address.toLowerCase())) continue;
    seen.add(t.address.toLowerCase());
    // A target outside the local domains is not ours to probe, as a client's recipient there is not.
    if (!t.domain || !ctx.services.isLocalDomain(t.domain)) continue;
    const where = targets.for(t.domain, (d) => ctx.services.relayTarget(d));
    if (!where.ask) {
      // Once per route, not per recipient: the admin needs to know, the log does not need it a million times.
      if (!told.has(where.key)) {
        told.add(where.key);
        ctx.log.info('recipient-verify does not verify this domain', { domain: t.domain, why: where.why });
      }
      continue;
    }
    const target = where.target;
    asked.push(async () => ({ to: t.address, host: target.display, v: await verifier.verify(t.address, target, ctx.log) }));
  }
  const refusals: string[] = [];
  let unknown = 0;
  for (const { to, host, v } of await inTurn(asked, Math.max(1, Math.floor(cfg.max_probes / 2)))) {
    if (v.status === 'unknown') {
      unknown++;
      ctx.log.warn('recipient verification failed', { to: [to], ...about, reason: v.reason, host, action: cfg.on_error });
    } else if (v.status === 'refused') {
      ctx.log.info('recipient refused by the server behind', { to: [to], ...about, reply: v.reply, source: v.source, host });
      refusals.push(v.reply);
    } else {
      ctx.log.debug('recipient verified', { to: [to], ...about, reply: v.reply, source: v.source });
    }
  }
  // One target the server behind refuses makes the message bounce for it: refused at RCPT, as a recipient of its own is.
  if (refusals.length > 0) {
    const said = quotable(refusals[0]);
    const why = redirected ? `an address it is forwarded to was refused by the next hop: ${said}` : `the next hop answered: ${said}`;
    return outcome.reject(`<${rcpt.address}>: Recipient address rejected: undeliverable (${why})`, { code: 550, enhanced: '5.1.1' });
  }
  if (unknown === 0 || cfg.on_error === 'pass') return;
  // The reason stays in the log: it names hosts and ports behind the gateway.
  return outcome.tempfail(`<${rcpt.address}>: Recipient address verification failed temporarily, please try again later`, { code: 450, enhanced: '4.1.1' });
}

/**
 * Runs `jobs` with at most `width` at once, answers in their order. An alias of many addresses waits for probe slots
 * rather than taking every one of `max_probes` (the others would get "cannot tell" at once, and so would the RCPTs of
 * other sessions meanwhile).
 */
async function inTurn<T>(jobs: ReadonlyArray<() => Promise<T>>, width: number): Promise<T[]> {
  const out: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      out[i] = await jobs[i]();
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, jobs.length) }, worker));
  return out;
}
