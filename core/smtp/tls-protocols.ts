// The TLS versions and TLS 1.2 cipher suites every listener offers (Postfix's smtpd_tls_protocols and
// smtpd_tls_ciphers), checked when the config is read so that a list OpenSSL cannot use never reaches a listener.
import tls from 'node:tls';
import type { Issue } from '../config/schema.ts';

export const TLS_MIN_VERSIONS = ['TLSv1.2', 'TLSv1.3'] as const;
export type TlsMinVersion = (typeof TLS_MIN_VERSIONS)[number];

export interface TlsProtocols {
  minVersion: TlsMinVersion;
  /** An OpenSSL cipher list; unset leaves Node's default. */
  ciphers?: string;
}

/** OpenSSL reads `:`, `,` and spaces alike between the entries of a cipher list. */
const entries = (list: string) => list.split(/[:, ]+/).filter(Boolean);

/** Node sends the entries named TLS_… to TLS 1.3 and the rest to TLS 1.2 and below, each list judged on its own. */
const isTls13Suite = (entry: string) => entry.startsWith('TLS_');

/**
 * Why `ciphers` cannot serve with `minVersion`, or undefined when it can. OpenSSL refuses a list that names no cipher it
 * knows; a list with only TLS 1.3 suites is accepted by OpenSSL but leaves TLS 1.2 clients nothing to agree on, so
 * every one of them would fail its handshake (and a sending MTA then delivers in plaintext).
 */
export function cipherListProblem(ciphers: string, minVersion: TlsMinVersion): string | undefined {
  const tls12 = entries(ciphers).filter((e) => !isTls13Suite(e));
  const tls13 = entries(ciphers).filter(isTls13Suite);
  if (!tls12.length && !tls13.length) return 'is empty: leave it unset for Node\'s default list';
  if (!tls12.length && minVersion === 'TLSv1.2') {
    return `names only TLS 1.3 suites, so TLS 1.2 clients could not connect: add TLS 1.2 ciphers (such as ECDHE+AESGCM) or set server.tls.min_version: TLSv1.3`;
  }
  for (const [list, what] of [[tls12, 'TLS 1.2 ciphers'], [tls13, 'TLS 1.3 suites']] as const) {
    if (!list.length) continue;
    try { tls.createSecureContext({ ciphers: list.join(':') }); } catch (e) {
      const why = (e as NodeJS.ErrnoException).code === 'ERR_SSL_NO_CIPHER_MATCH' ? 'matches no cipher OpenSSL knows' : (e as Error).message;
      return `is not a usable OpenSSL cipher list: the part for ${what} (${list.join(':')}) ${why}; \`openssl ciphers -v '${ciphers}'\` lists what a list selects`;
    }
  }
  return undefined;
}

/** The server.tls check the schema runs: the cipher list against the minimum version it must serve. */
export function tlsProtocolIssues(value: { min_version?: TlsMinVersion; ciphers?: string }, path: string, issues: Issue[]): void {
  if (value.ciphers === undefined) return;
  const problem = cipherListProblem(value.ciphers, value.min_version ?? 'TLSv1.2');
  if (problem) issues.push({ path: `${path}.ciphers`, message: problem });
}

/**
 * What a listener's secure context is built from. `ciphers` is always present, undefined when unset: smtp-server
 * merges a reload's options into the ones it holds, so a key left out would keep the previous list.
 */
export function secureContextOptions(m: { key: Buffer; cert: Buffer } & Partial<TlsProtocols>): { key: Buffer; cert: Buffer; minVersion: TlsMinVersion; ciphers: string | undefined } {
  return { key: m.key, cert: m.cert, minVersion: m.minVersion ?? 'TLSv1.2', ciphers: m.ciphers };
}
