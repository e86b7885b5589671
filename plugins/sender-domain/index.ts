// The MAIL FROM domain must be able to receive mail (bounces, replies): an MX, or else an A/AAAA; a null MX refuses.
import { definePlugin, outcome, type HookContext, type Outcome } from '../../core/index.ts';
import { configSchema, type SenderDomainConfig } from './config.ts';
import { domainStatus } from './resolve.ts';

const REPLIES = {
  NULL_MX: { text: 'Sender domain {domain} does not accept mail (null MX)', enhanced: '5.7.27' },
  NXDOMAIN: { text: 'Sender domain {domain} does not exist', enhanced: '5.1.8' },
  NO_ADDRESS: { text: 'Sender domain {domain} has no MX or address record', enhanced: '5.1.8' },
};

async function check(cfg: SenderDomainConfig, ctx: HookContext): Promise<Outcome | void> {
  const from = ctx.mailFrom;
  // The null sender (bounces) has no domain; an address literal has nothing to look up.
  if (!from?.domain || from.domain.startsWith('[') || ctx.session.trusted) return;
  const domain = from.domain;
  const st = await domainStatus(ctx.services.dns, domain);
  if (st.ok) { ctx.log.debug('sender domain resolves', { domain, via: st.via }); return; }
  if (st.reason === 'UNAVAILABLE') {
    ctx.log.warn('sender domain lookup failed', { domain, error: st.error.code });
    if (cfg.on_error === 'skip') { ctx.addFinding('SENDER_DOMAIN_UNAVAILABLE', 0, `${domain}: ${st.error.code}`); return; }
    return outcome.tempfail(`Cannot verify sender domain ${domain} now, try again later`, { code: 451, enhanced: '4.4.3' });
  }
  const reply = REPLIES[st.reason];
  const text = reply.text.replace('{domain}', domain);
  ctx.log.info('sender domain cannot receive mail', { domain, reason: st.reason });
  if (cfg.action === 'reject') return outcome.reject(text, { code: 550, enhanced: reply.enhanced });
  ctx.addFinding(`SENDER_DOMAIN_${st.reason}`, cfg.score, domain);
}

export default definePlugin({
  name: 'sender-domain',
  description: 'Refuses or scores MAIL FROM domains that cannot receive mail (no MX/A/AAAA, NXDOMAIN, null MX)',
  configSchema,
  dnsOutage: (cfg: SenderDomainConfig) => (cfg.on_error === 'tempfail' ? 'tempfail' : 'degraded'),
  symbols: {
    SENDER_DOMAIN_NULL_MX: 'The sender domain publishes a null MX (RFC 7505)',
    SENDER_DOMAIN_NXDOMAIN: 'The sender domain does not exist',
    SENDER_DOMAIN_NO_ADDRESS: 'The sender domain has no MX, A or AAAA record',
    SENDER_DOMAIN_UNAVAILABLE: 'The lookup failed and on_error is skip (score 0)',
  },
  // Judged at MAIL FROM: there for a data hook wherever the plugin stands.
  emits: () => ({ symbols: [], early: ['SENDER_DOMAIN_NULL_MX', 'SENDER_DOMAIN_NXDOMAIN', 'SENDER_DOMAIN_NO_ADDRESS', 'SENDER_DOMAIN_UNAVAILABLE'] }),
  create: (cfg: SenderDomainConfig) => ({ hooks: { mailFrom: (ctx) => check(cfg, ctx) } }),
});
