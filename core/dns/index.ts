// The shared resolver: one instance per gateway, handed to every plugin through `services.dns`.
import { promises as dnsp } from 'node:dns';
import type { DnsConfig } from './config.ts';
import { DnsError, type DnsErrorCode, type DnsResolver, type MxRecord } from './types.ts';
import type { Logger } from '../log/types.ts';

const CODE_MAP: Record<string, DnsErrorCode> = {
  ENOTFOUND: 'NXDOMAIN', ENODATA: 'NODATA', ETIMEOUT: 'TIMEOUT', ESERVFAIL: 'SERVFAIL', EREFUSED: 'REFUSED', EFORMERR: 'FORMERR',
};

function toDnsError(err: unknown, name: string, rrtype: string): DnsError {
  const code = CODE_MAP[(err as { code?: string }).code ?? ''] ?? 'OTHER';
  return new DnsError(code, name, rrtype);
}

/** Creates the resolver from `dns:` config. */
export function createResolver(cfg: DnsConfig, _log?: Logger): DnsResolver {
  const r = new dnsp.Resolver({ timeout: cfg.timeout, tries: cfg.tries });
  if (cfg.servers.length) r.setServers(cfg.servers.map((x) => (/^[\d.]+:\d+$/.test(x) || x.startsWith('[') ? x : x)));
  const wrap = <T>(rrtype: string, name: string, fn: () => Promise<T>): Promise<T> => fn().catch((e) => { throw toDnsError(e, name, rrtype); });
  return {
    resolve4: (n) => wrap('A', n, () => r.resolve4(n)),
    resolve6: (n) => wrap('AAAA', n, () => r.resolve6(n)),
    resolveMx: (n) => wrap('MX', n, () => r.resolveMx(n)) as Promise<MxRecord[]>,
    resolveTxt: (n) => wrap('TXT', n, async () => (await r.resolveTxt(n)).map((parts) => parts.join(''))),
    reverse: (ip) => wrap('PTR', ip, () => r.reverse(ip)),
    resolvePtr: (n) => wrap('PTR', n, () => r.resolvePtr(n)),
    resolveNs: (n) => wrap('NS', n, () => r.resolveNs(n)),
  };
}
