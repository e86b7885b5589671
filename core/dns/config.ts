// Config schema of the shared resolver (`dns:` in mailmoat.yaml).
import { s, TIMER_MAX_MS } from '../config/schema.ts';

export const dnsConfigSchema = s.object({
  servers: s.array(s.string()).default([]).describe('Resolvers to ask, IP addresses as `host`, `host:port` or `[v6]:port`; empty means the system resolvers'),
  timeout: s.duration({ min: 1, max: TIMER_MAX_MS }).default(2000).describe('Time allowed for one attempt of a lookup at one server'),
  tries: s.number({ integer: true, min: 1, max: 10 }).default(2).describe('Rounds over all servers before a lookup counts as a temporary failure (TIMEOUT)'),
  cache_size: s.number({ integer: true, min: 0 }).default(10_000).describe('Answers kept in the cache (positive and negative); 0 turns the cache off'),
  negative_ttl: s.duration().default(60_000).describe('How long an NXDOMAIN/NODATA answer is cached when the server sent no SOA to say'),
  max_ttl: s.duration().default(86_400_000).describe('Upper bound on how long any answer is cached, whatever its TTL'),
}).default({} as never);

/** The resolver's settings; the optional keys take the schema defaults when absent. */
export type DnsConfig = {
  servers: string[];
  timeout: number;
  tries: number;
  cache_size?: number;
  negative_ttl?: number;
  max_ttl?: number;
};
