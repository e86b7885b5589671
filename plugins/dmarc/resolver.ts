// The resolver function mailauth calls, served by the gateway's shared resolver so no lookup bypasses `dns.servers`.
import { DnsError, type DnsResolver } from '../../core/index.ts';

/** mailauth's resolver contract: node:dns.promises.resolve(name, type), errors carrying node's codes. */
export type MailauthResolver = (name: string, rrtype: string) => Promise<any[]>;

const NODE_CODES: Record<string, string> = {
  NXDOMAIN: 'ENOTFOUND', NODATA: 'ENODATA', TIMEOUT: 'ETIMEOUT', SERVFAIL: 'ESERVFAIL', REFUSED: 'EREFUSED', FORMERR: 'EFORMERR',
};

function nodeError(err: unknown): Error {
  const e = err instanceof Error ? err : new Error(String(err));
  const code = err instanceof DnsError ? NODE_CODES[err.code] ?? 'ESERVFAIL' : 'ESERVFAIL';
  return Object.assign(e, { code });
}

export function mailauthResolver(dns: DnsResolver): MailauthResolver {
  return async (name, rrtype) => {
    try {
      switch (rrtype.toUpperCase()) {
        // Our resolver joins a TXT record's strings; mailauth joins the chunks itself, so one chunk is the same.
        case 'TXT': return (await dns.resolveTxt(name)).map((t) => [t]);
        case 'A': return await dns.resolve4(name);
        case 'AAAA': return await dns.resolve6(name);
        case 'MX': return await dns.resolveMx(name);
        case 'PTR': return dns.resolvePtr ? await dns.resolvePtr(name) : [];
        case 'NS': return dns.resolveNs ? await dns.resolveNs(name) : [];
        default: throw new DnsError('OTHER', name, rrtype, `record type ${rrtype} is not served by the shared resolver`);
      }
    } catch (err) {
      throw nodeError(err);
    }
  };
}
