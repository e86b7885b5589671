// Reverse DNS of unauthenticated clients: refuse or score a client without PTR (optionally without forward-confirmed rDNS).
//
// The lookup starts at connect and is judged at MAIL FROM, when the client has had its chance to authenticate:
// trusted (authenticated or relay-network) clients are never judged by their address. A forward-confirmed name
// becomes the session's verified client name (Received, the log), as Postfix's smtpd verifies the name it writes.
import { definePlugin, outcome, type HookContext, type Outcome } from '../../core/index.ts';
import { configSchema, type PtrConfig } from './config.ts';
import { ptrStatus, type PtrStatus } from './lookup.ts';

interface Pending { ip: string; status: Promise<PtrStatus>; settled?: PtrStatus }

/** The lookup for the client's current address, if one was started. */
function started(ctx: HookContext): Pending | undefined {
  const have = ctx.connectionState.ptr as Pending | undefined;
  return have?.ip === ctx.session.remote.ip ? have : undefined;
}

function pending(cfg: PtrConfig, ctx: HookContext): Pending {
  const have = started(ctx);
  if (have) return have;
  const ip = ctx.session.remote.ip;
  const p: Pending = { ip, status: ptrStatus(ctx.services.dns, ip, cfg.fcrdns) };
  p.status.then((st) => { p.settled = st; }, () => undefined);
  ctx.connectionState.ptr = p;
  return p;
}

/** Only a name that resolves back to the client is verified: a PTR alone says what the address's owner chose to write. */
function verifiedName(ctx: HookContext, st: PtrStatus | undefined): void {
  if (st?.state === 'confirmed' && st.name) ctx.setVerifiedClientName(st.name);
}

async function judge(cfg: PtrConfig, ctx: HookContext): Promise<Outcome | void> {
  // A trusted client's name is taken if its lookup (started at connect, before it logged in) is done; it is not waited for.
  if (ctx.session.trusted || ctx.session.allowlisted) { verifiedName(ctx, started(ctx)?.settled); return; }
  const { ip, status } = pending(cfg, ctx);
  const st = await status;
  verifiedName(ctx, st);
  if (st.state === 'confirmed' || st.state === 'present') { ctx.log.debug('client has reverse DNS', { client: ip, names: st.names }); return; }
  if (st.state === 'unavailable') {
    ctx.log.warn('reverse DNS lookup failed', { client: ip, error: st.error.code });
    if (cfg.on_error === 'skip') { ctx.addFinding('PTR_UNAVAILABLE', 0, `${ip}: ${st.error.code}`); return; }
    return outcome.tempfail(`Cannot find the hostname of ${ip} now, try again later`, { code: 450, enhanced: '4.7.25' });
  }
  const detail = st.state === 'missing' ? `${ip} has no PTR` : `${ip}: ${st.names.slice(0, 3).join(', ')} do not resolve back to it`;
  ctx.log.info('client fails the reverse DNS check', { client: ip, state: st.state });
  if (cfg.mode === 'reject') return outcome.reject(cfg.text.replace(/\{ip\}/g, ip), { code: 550, enhanced: '5.7.25' });
  if (st.state === 'missing') ctx.addFinding('PTR_MISSING', cfg.score, detail);
  else ctx.addFinding('PTR_NOT_CONFIRMED', cfg.fcrdns_score, detail);
}

export default definePlugin({
  name: 'ptr',
  description: 'Reverse DNS (PTR, optionally forward-confirmed) of unauthenticated clients: refuse or score',
  configSchema,
  dnsOutage: (cfg: PtrConfig) => (cfg.mode === 'never' ? undefined : cfg.on_error === 'tempfail' ? 'tempfail' : 'degraded'),
  symbols: {
    PTR_MISSING: 'The client IP has no PTR record',
    PTR_NOT_CONFIRMED: 'No PTR name of the client resolves back to its IP (fcrdns)',
    PTR_UNAVAILABLE: 'The reverse lookup failed and on_error is skip (score 0)',
  },
  // Judged at MAIL FROM: there for a data hook wherever the plugin stands.
  emits: (cfg: PtrConfig) => ({ symbols: [], early: cfg.mode === 'never' ? [] : ['PTR_MISSING', 'PTR_NOT_CONFIRMED', 'PTR_UNAVAILABLE'] }),
  create(cfg: PtrConfig) {
    if (cfg.mode === 'never') return { hooks: {} };
    return {
      hooks: {
        // Start early so that the answer is usually there by MAIL FROM.
        connect: (ctx) => { if (!ctx.session.relayNetwork && !ctx.session.allowlisted) pending(cfg, ctx); },
        mailFrom: (ctx) => judge(cfg, ctx),
      },
    };
  },
});
