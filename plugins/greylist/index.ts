// Greylisting: a new (client network, sender, recipient) triplet is deferred with 451 4.7.1 at RCPT until it retries.
//
// Real mail servers retry after a temporary failure; most spam engines do not. The state lives in the shared
// state store, so gateways on one Redis greylist as one.
import { definePlugin, outcome, stateStoreHealth, type HookContext, type Outcome } from '../../core/index.ts';
import { configSchema, timingProblems, type GreylistConfig } from './config.ts';
import { clientNetwork, normaliseSender } from './address.ts';
import { compileExemptions } from './exemptions.ts';
import { clientNameExemption } from './client-name.ts';
import { Greylister, type Triplet } from './greylister.ts';

/** A count of seconds in words that agree with it: `1 second`, `300 seconds`. */
export function secondsText(n: number): string {
  return `${n} ${n === 1 ? 'second' : 'seconds'}`;
}

/**
 * The deferral's reply text from the `message` option: `{retry_in}` is the number of seconds left, and the default
 * text's `{retry_in} seconds` becomes `secondsText` of them, so that one second left is not told as "1 seconds".
 */
export function deferralText(message: string, retryInSeconds: number): string {
  return message.replace(/\{retry_in\}( seconds\b)?/g, (_all, unit?: string) => (unit ? secondsText(retryInSeconds) : String(retryInSeconds)));
}

/** Builds the triplet of the recipient being checked, as `cfg` says to reduce it. */
export function tripletOf(ctx: HookContext, cfg: GreylistConfig): Triplet {
  return {
    client: clientNetwork(ctx.session.remote.ip, cfg.ipv4_mask, cfg.ipv6_mask),
    sender: normaliseSender(ctx.mailFrom?.address ?? '', { stripTags: cfg.strip_sender_tags, delimiters: cfg.recipient_delimiter }),
    rcpt: (ctx.rcpt?.address ?? '').toLowerCase(),
  };
}

/** A retry that passed at RCPT, recorded once the rest of the chain has accepted its recipient. */
interface PendingPass {
  triplet: Triplet;
  first: number;
  delayedMs: number;
}

/**
 * Whether the transaction took the recipient of `p`: the core lists the client's RCPTs it accepted, under the address
 * the client wrote whatever a later plugin redirected it to.
 */
function accepted(p: PendingPass, acceptedRcpts: readonly string[]): boolean {
  return acceptedRcpts.some((a) => a.toLowerCase() === p.triplet.rcpt);
}

/** Keeps a pass to record at DATA. A recipient named again (an alias the core does not know it holds) is checked again: one pass is enough. */
function holdPass(ctx: HookContext, p: PendingPass): void {
  const pending = (ctx.state.pending ??= []) as PendingPass[];
  if (!pending.some((q) => q.triplet.rcpt === p.triplet.rcpt)) pending.push(p);
}

/** Records a finding once per transaction, however many recipients the transaction has. */
function noteOnce(ctx: HookContext, symbol: string, detail: string): void {
  if (ctx.state[symbol]) return;
  ctx.state[symbol] = true;
  ctx.addFinding(symbol, 0, detail);
}

export default definePlugin<GreylistConfig>({
  name: 'greylist',
  description: 'Defers new client/sender/recipient triplets with 451 4.7.1 until they retry',
  configSchema,
  dnsOutage: (cfg: GreylistConfig) => (cfg.skip_client_names.length ? 'degraded' : undefined),
  symbols: {
    GREYLIST_PASSED: 'The triplet retried after the delay and passed (detail: how long it was delayed)',
    GREYLIST_KNOWN: 'The triplet or client passed before and is remembered',
    GREYLIST_SKIPPED: 'Greylisting did not apply (detail: the exemption)',
    GREYLIST_ERROR: 'The state store failed; the recipient was let through (on_store_error: pass)',
  },
  // Recorded at RCPT TO and the DATA command: there for a data hook wherever the plugin stands.
  emits: () => ({ symbols: [], early: ['GREYLIST_PASSED', 'GREYLIST_KNOWN', 'GREYLIST_SKIPPED', 'GREYLIST_ERROR'] }),
  // check-config asks the same function the start does, so it says OK only for timings the start accepts.
  check: (cfg) => timingProblems(cfg),
  create(cfg, setup) {
    const problems = timingProblems(cfg);
    if (problems.length) throw new Error(problems.map((x) => `${x.path}: ${x.message}`).join('; '));
    const exempt = compileExemptions(cfg);
    const exemptName = clientNameExemption(cfg.skip_client_names);
    const greylister = new Greylister(setup.services.store, {
      delay: cfg.delay, retryWindow: cfg.retry_window, remember: cfg.remember, rememberBy: cfg.remember_by,
      autoAllowAfter: cfg.auto_allow_after,
    });

    async function onRcpt(ctx: HookContext): Promise<Outcome | void> {
      if (!ctx.rcpt) return;
      // A relay attempt (a foreign recipient from a client that may not relay) is the core's to refuse with 554, as
      // Postfix's reject_unauth_destination comes before greylisting: greylisted first, it was told to come back and
      // left an entry for mail that would never be accepted.
      if (!ctx.session.trusted && !ctx.services.isLocalDomain(ctx.rcpt.domain)) {
        ctx.log.debug('greylist skipped', { reason: 'not a local recipient', to: [ctx.rcpt.address] });
        return;
      }
      // The name is looked up last, and only with skip_client_names set: the other exemptions cost no DNS.
      const reason = exempt({ session: ctx.session, senderDomain: ctx.mailFrom?.domain ?? '', rcpt: ctx.rcpt.address, rcptDomain: ctx.rcpt.domain, findings: ctx.findings })
        ?? await exemptName?.(ctx);
      if (reason) {
        ctx.log.debug('greylist skipped', { reason, to: [ctx.rcpt.address] });
        noteOnce(ctx, 'GREYLIST_SKIPPED', reason);
        return;
      }
      const triplet = tripletOf(ctx, cfg);
      let decision;
      try {
        // A `moat check` is answered as the client would be, with nothing stored: its triplet's clock does not start.
        decision = await greylister.check(triplet, clientNetwork(ctx.session.remote.ip, 32, 128), { readOnly: ctx.session.check === true });
      } catch (err) {
        // Once per transaction: the store itself logs the outage once, and a warn per recipient would flood the log.
        if (!ctx.state.storeFailed) ctx.log.warn('greylist state store failed', { error: String((err as Error)?.message ?? err), on_store_error: cfg.on_store_error });
        ctx.state.storeFailed = true;
        if (cfg.on_store_error === 'tempfail') return outcome.tempfail('Temporary local problem, please try again later', { code: 451, enhanced: '4.3.0' });
        noteOnce(ctx, 'GREYLIST_ERROR', 'state store unavailable');
        return;
      }
      if (decision.action === 'defer') {
        const retryIn = Math.ceil(decision.retryInMs / 1000);
        ctx.log.info(ctx.session.check ? 'would greylist (check: nothing stored)' : 'greylisted', { network: triplet.client, from: triplet.sender, to: [triplet.rcpt], first: decision.first, retry_in_s: retryIn });
        // One message's deferrals count once toward limits.max_errors: a message to 25 new recipients is greylisted
        // as one, all its triplets start their clock in this round, and it passes whole at the next.
        return outcome.tempfail(deferralText(cfg.message, retryIn), { code: 451, enhanced: '4.7.1', countsOnceAs: 'greylisted' });
      }
      if (decision.action === 'passed') {
        // Not recorded yet: a plugin after this one (recipient-verify) may still refuse the recipient, and a client
        // trying unknown users must not earn passes, nor auto_allow_after for its network, by retrying them.
        ctx.log.debug('greylist retry in time', { network: triplet.client, from: triplet.sender, to: [triplet.rcpt], delayed_s: Math.round(decision.delayedMs / 1000) });
        holdPass(ctx, { triplet, first: decision.first, delayedMs: decision.delayedMs });
        return;
      }
      noteOnce(ctx, 'GREYLIST_KNOWN', `remembered by ${decision.by}`);
      // A triplet that waited and is now let in by its network (allowed meanwhile by its other triplets' passes) was
      // delayed all the same: its pass is recorded, and its message gets the X-Greylist header like any retry's.
      if (decision.waited) holdPass(ctx, { triplet, ...decision.waited });
    }

    /**
     * Records the passes of the recipients the chain accepted, at DATA (before 354), when the transaction's recipients
     * are final; again at afterVerdict for a transaction whose DATA an earlier plugin answered before this one ran.
     */
    async function recordPasses(ctx: HookContext): Promise<void> {
      const pending = ctx.state.pending as PendingPass[] | undefined;
      if (!pending?.length) return;
      ctx.state.pending = [];
      for (const p of pending) {
        const { triplet } = p;
        if (!accepted(p, ctx.acceptedRcpts ?? [])) {
          ctx.log.debug('greylist pass not recorded: recipient refused after greylisting', { network: triplet.client, from: triplet.sender, to: [triplet.rcpt] });
          continue;
        }
        const secs = Math.round(p.delayedMs / 1000);
        if (ctx.session.check) {
          // A `moat check` shows the pass (finding and header) without recording it.
          ctx.log.info('greylist would pass (check: nothing stored)', { network: triplet.client, from: triplet.sender, to: [triplet.rcpt], delayed_s: secs });
        } else {
          let rec;
          try {
            rec = await greylister.recordPass(triplet, p.first);
          } catch (err) {
            // The message goes on: its recipient passed already, and the waiting entry left behind lets the next retry pass.
            ctx.log.warn('greylist state store failed', { error: String((err as Error)?.message ?? err), recording: 'pass' });
            continue;
          }
          ctx.log.info('greylist passed', { network: triplet.client, from: triplet.sender, to: [triplet.rcpt], delayed_s: secs });
          if (rec.clientAllowed) ctx.log.info('greylist client network allowed', { network: triplet.client, after_passes: cfg.auto_allow_after });
        }
        if (ctx.hook === 'dataStart' && !ctx.state.GREYLIST_PASSED) {
          if (cfg.header) ctx.addHeader('X-Greylist', `delayed ${secondsText(secs)} by ${setup.services.hostname}`);
          noteOnce(ctx, 'GREYLIST_PASSED', `delayed ${secs} s`);
        }
      }
    }

    // GET /health/ready: a Redis outage as this plugin's on_store_error makes of it.
    const health = stateStoreHealth(setup.services.store, cfg.on_store_error === 'tempfail' ? 'tempfail' : 'degraded',
      cfg.on_store_error === 'tempfail' ? 'mail is deferred (on_store_error: tempfail)' : 'recipients pass without greylisting (on_store_error: pass)');
    return { hooks: { rcptTo: onRcpt, dataStart: recordPasses, afterVerdict: recordPasses }, ...(health ? { health } : {}) };
  },
});
