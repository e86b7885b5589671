// Config schema of the shared resolver (`dns:` in mailmoat.yaml).
import { s } from '../config/schema.ts';

export const dnsConfigSchema = s.object({
  servers: s.array(s.string()).default([]).describe('Resolvers to ask, `host` or `host:port`; empty means the system resolvers'),
  timeout: s.duration().default(2000).describe('Time allowed for one attempt of a lookup'),
  tries: s.number({ integer: true, min: 1, max: 10 }).default(2).describe('Attempts per lookup before it counts as a temporary failure'),
}).default({} as never);

export type DnsConfig = { servers: string[]; timeout: number; tries: number };
