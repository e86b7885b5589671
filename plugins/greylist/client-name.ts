// skip_client_names: the client's forward-confirmed host name against the configured names, as Postgrey's
// whitelist_clients. Big providers send from pools wider than one /24, and each retry may come from another network.
import type { HookContext } from '../../core/index.ts';
import { ptrStatus } from '../ptr/lookup.ts';
import { domainList } from './exemptions.ts';

/** The client's forward-confirmed name, looked up once per connection and client address. */
interface NameLookup { ip: string; name: Promise<string | undefined> }

/**
 * The name to match: the session's verified name when a plugin (ptr) set one, else our own lookup, since only a PTR
 * name that resolves back to the client says anything: a PTR alone is whatever the address's owner wrote, and a
 * spammer owning its addresses could write `mail-1.google.com`. A lookup that fails leaves the client greylisted.
 */
async function confirmedName(ctx: HookContext): Promise<string | undefined> {
  if (ctx.session.remote.verifiedName) return ctx.session.remote.verifiedName;
  const ip = ctx.session.remote.ip;
  const have = ctx.connectionState.clientName as NameLookup | undefined;
  if (have?.ip === ip) return have.name;
  const name = ptrStatus(ctx.services.dns, ip, true).then((st) => {
    if (st.state === 'confirmed') return st.name?.toLowerCase().replace(/\.$/, '');
    if (st.state === 'unavailable') ctx.log.debug('greylist: client name lookup failed', { client: ip, error: st.error.code });
    return undefined;
  }, () => undefined);
  ctx.connectionState.clientName = { ip, name } satisfies NameLookup;
  return name;
}

/**
 * The skip_client_names check: the reason when the client's confirmed name is listed, else undefined. Undefined
 * itself for an empty list, so that no lookup is made unless names are configured.
 */
export function clientNameExemption(names: readonly string[]): ((ctx: HookContext) => Promise<string | undefined>) | undefined {
  if (!names.length) return undefined;
  const listed = domainList(names);
  return async (ctx) => {
    const name = await confirmedName(ctx);
    return name && listed(name) ? `client name ${name}` : undefined;
  };
}
