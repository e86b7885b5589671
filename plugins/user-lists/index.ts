// Each recipient's own allow and block lists of senders (Proxmox Mail Gateway's user whitelist and blacklist), kept in
// the state store by `moat lists` and the quarantine pages: a blocked sender is refused at RCPT for that recipient, a
// blocked author drops that recipient at DATA, and mail every recipient allows gets a strongly negative finding.
import { definePlugin, outcome, stateStoreHealth, type HookContext, type Outcome } from '../../core/index.ts';
import { listOwner, listsOf } from '../../core/lists/user-lists.ts';
import { authFacts } from './auth.ts';
import { configSchema, type UserListsConfig } from './config.ts';
import { decide, blockMatch, type Lists, type Match } from './decide.ts';
import { fromAddresses } from './from-header.ts';

/** Symbol patterns: exact names, or a prefix when the pattern ends in `*`. */
function symbolTest(patterns: readonly string[]): (symbol: string) => boolean {
  const exact = new Set(patterns.filter((p) => !p.endsWith('*')));
  const prefixes = patterns.filter((p) => p.endsWith('*')).map((p) => p.slice(0, -1));
  return (symbol) => exact.has(symbol) || prefixes.some((p) => symbol.startsWith(p));
}

const errorText = (err: unknown) => String((err as Error)?.message ?? err);

/** How a match is named in a finding's detail and a reply: `bob@example.com: @sender.test (from)`. */
const matchText = (m: Match & { auth?: string }) => `${m.rcpt}: ${m.entry} (${m.via}${m.auth ? `, ${m.auth}` : ''})`;

export default definePlugin<UserListsConfig>({
  name: 'user-lists',
  description: "Applies each recipient's own sender allow and block lists (kept by `moat lists` and the quarantine pages)",
  configSchema,
  symbols: {
    USER_ALLOWLIST: 'Every recipient allows the sender or the author (authenticated unless allow_needs_auth is false); score: allow_score',
    USER_ALLOWLIST_UNAUTHENTICATED: 'An allow entry matched, but the address it matched was not authenticated (SPF / DMARC), so it did not count (score 0)',
    USER_ALLOWLIST_IGNORED: 'Every recipient allows the sender, but a finding in allow_unless_symbols stops the allow (score 0)',
    USER_LISTS_UNAVAILABLE: 'The state store failed: no list applied (score 0)',
  },
  create(cfg, setup) {
    const store = setup.services.store;
    const stopsAllow = symbolTest(cfg.allow_unless_symbols);
    const warned = new Set<string>();
    // What the chain lacks, said at start: without it no allow entry of that kind can ever count.
    if (cfg.allow_needs_auth && setup.chain) {
      const { names, index } = setup.chain;
      if (!names.includes('spf')) {
        warned.add('spf');
        setup.log.warn('allow_needs_auth: no spf plugin in the chain, so no allow entry can count for an envelope sender: add spf, or set allow_needs_auth: false');
      }
      if (!names.slice(0, index).includes('dmarc')) {
        warned.add('dmarc');
        setup.log.warn(names.includes('dmarc')
          ? 'allow_needs_auth: dmarc comes after user-lists in the chain, so its results come too late and no allow entry can count for a From address: list dmarc before user-lists'
          : 'allow_needs_auth: no dmarc plugin before user-lists in the chain, so no allow entry can count for a From address: add dmarc before user-lists, or set allow_needs_auth: false');
      }
    }
    const warnOnce = (key: string, msg: string) => {
      if (warned.has(key)) return;
      warned.add(key);
      setup.log.warn(msg);
    };

    /** A failed store applies no list: the message goes on to the usual verdict, or is deferred when so configured. */
    function storeFailed(ctx: HookContext, err: unknown): Outcome | void {
      ctx.log.warn('user lists unavailable: no allow or block list applied', { error: errorText(err), on_store_error: cfg.on_store_error });
      if (cfg.on_store_error === 'tempfail') return outcome.tempfail('Temporary local problem, please try again later', { code: 451, enhanced: '4.3.0' });
      if (!ctx.state.unavailable) {
        ctx.state.unavailable = true;
        ctx.addFinding('USER_LISTS_UNAVAILABLE', 0, 'state store unavailable');
      }
    }

    async function onRcpt(ctx: HookContext): Promise<Outcome | void> {
      const rcpt = ctx.rcpt;
      const sender = ctx.mailFrom?.address ?? '';
      // The null sender matches no list; trusted clients send our own users' mail; a relay attempt is the core's to refuse.
      if (!rcpt || !sender || ctx.session.trusted || !ctx.services.isLocalDomain(rcpt.domain)) return;
      const owner = listOwner(rcpt.address, cfg.recipient_delimiter);
      let lists: Lists;
      try { lists = await listsOf(store, owner); } catch (err) { return storeFailed(ctx, err); }
      const m = blockMatch(rcpt.address, lists, [[sender, 'envelope']]);
      if (!m) return;
      ctx.log.info('sender on the recipient\'s block list: recipient refused', { list: 'block', entry: m.entry, from: sender, to: [rcpt.address], owner });
      return outcome.reject(`Recipient <${rcpt.address}> does not accept mail from <${sender}>`, { code: 550, enhanced: '5.7.1' });
    }

    async function onData(ctx: HookContext): Promise<Outcome | void> {
      if (ctx.session.trusted || ctx.recipients.length === 0) return;
      const froms = fromAddresses(ctx.message);
      const rcpts = ctx.recipients.map((r) => r.address);
      const owners = [...new Set(rcpts.map((r) => listOwner(r, cfg.recipient_delimiter)))];
      const byOwner = new Map<string, Lists>();
      try {
        const all = await Promise.all(owners.map((o) => listsOf(store, o)));
        owners.forEach((o, i) => byOwner.set(o, all[i]));
      } catch (err) { return storeFailed(ctx, err); }

      const facts = authFacts(ctx.findings);
      const d = decide(
        rcpts.map((rcpt) => ({ rcpt, lists: byOwner.get(listOwner(rcpt, cfg.recipient_delimiter))! })),
        { sender: ctx.mailFrom?.address ?? '', senderDomain: ctx.mailFrom?.domain ?? '', froms },
        facts, cfg.allow_needs_auth,
      );

      for (const m of d.blocked) {
        ctx.log.info('sender or author on the recipient\'s block list: recipient dropped', { list: 'block', entry: m.entry, matched: m.address, via: m.via, to: [m.rcpt] });
      }
      if (d.blocked.length && d.remaining.length === 0) {
        return outcome.reject(`Message refused: its recipients do not accept mail from <${d.blocked[0].address}>`, { code: 550, enhanced: '5.7.1' });
      }
      // No finding: the verdict header travels with the copies the other recipients get, and one recipient's block
      // list is none of theirs. The log and the message's `discarded` field say who was dropped and why.
      for (const m of d.blocked) ctx.discardRecipient(m.rcpt, `user block list: ${m.entry}`);

      for (const m of d.unauthenticated) {
        ctx.log.info('allow entry matched an unauthenticated address: not counted', { list: 'allow', entry: m.entry, matched: m.address, via: m.via, to: [m.rcpt] });
        // Without the plugin that authenticates it, no allow entry of that kind can ever count: say so to the admin.
        if (m.via === 'envelope' && !facts.spfRan) warnOnce('spf', 'allow_needs_auth: an allow entry matched the envelope sender, but the spf plugin recorded no result: add spf to the plugins, or no such entry counts');
        if (m.via === 'from' && !facts.dmarcRan) warnOnce('dmarc', 'allow_needs_auth: an allow entry matched the From address, but the dmarc plugin recorded no result: list dmarc before user-lists in the plugins, or no such entry counts');
      }
      if (d.unauthenticated.length) ctx.addFinding('USER_ALLOWLIST_UNAUTHENTICATED', 0, d.unauthenticated.map(matchText).join('; '));

      if (d.allowed.length === 0 || d.allowed.length < d.remaining.length) {
        if (d.allowed.length) ctx.log.debug('not every recipient allows the sender: no allow finding', { allowed: d.allowed.length, to: [...d.remaining] });
        return;
      }
      const stopper = ctx.findings.find((f) => stopsAllow(f.symbol));
      if (stopper) {
        ctx.log.info('allow entries not applied', { because: stopper.symbol });
        ctx.addFinding('USER_ALLOWLIST_IGNORED', 0, `${stopper.symbol} recorded`);
        return;
      }
      for (const m of d.allowed) ctx.log.info('sender on the recipient\'s allow list', { list: 'allow', entry: m.entry, matched: m.address, via: m.via, auth: m.auth, to: [m.rcpt] });
      ctx.addFinding('USER_ALLOWLIST', cfg.allow_score, d.allowed.map(matchText).join('; '));
    }

    // GET /health/ready: a Redis outage as this plugin's on_store_error makes of it.
    const health = stateStoreHealth(store, cfg.on_store_error === 'tempfail' ? 'tempfail' : 'degraded',
      cfg.on_store_error === 'tempfail' ? 'mail is deferred (on_store_error: tempfail)' : 'no allow or block list applies (on_store_error: skip)');
    return { hooks: { rcptTo: onRcpt, data: onData }, ...(health ? { health } : {}) };
  },
});
