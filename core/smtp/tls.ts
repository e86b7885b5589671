// TLS material for the listeners: the configured files, or a self-signed certificate generated on first start.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import { isIP } from 'node:net';
import path from 'node:path';
import { explainPairError } from './tls-certificate-checks.ts';
import { secureContextOptions, type TlsProtocols } from './tls-protocols.ts';

export interface TlsMaterial extends TlsProtocols {
  key: Buffer;
  cert: Buffer;
  generated: boolean;
  /** When the certificate stops being valid. */
  expires: Date;
}

/** A self-signed certificate this close to its end is replaced at start, before clients see it expire. */
const RENEW_BEFORE_MS = 30 * 86_400_000;

function readPem(file: string, key: string): Buffer {
  try { return readFileSync(file); } catch (e) {
    throw new Error(`${key}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/**
 * Proves the pair usable now, with the protocol settings the listeners will add, so a bad file is a start-up error and
 * not a failed handshake on the first STARTTLS.
 */
function check(key: Buffer, cert: Buffer, protocols: TlsProtocols, what: string, keyFile?: string): Date {
  try {
    tls.createSecureContext(secureContextOptions({ key, cert, ...protocols }));
    return new Date(new X509Certificate(cert).validTo);
  } catch (e) {
    throw new Error(`${what}: not a usable certificate and key: ${explainPairError(key, cert, e as Error, keyFile)}`);
  }
}

/** The name the self-signed certificate is made for: server.hostname, as far as it can stand in a certificate. */
function certName(hostname: string): string {
  return isIP(hostname) ? hostname : hostname.replace(/[^A-Za-z0-9.-]/g, '') || 'localhost';
}

/** Whether `cn` is among the certificate's alternative names (the entry generate() writes, not a wildcard match). */
function names(cert: Buffer, cn: string): boolean {
  const x = new X509Certificate(cert);
  if (isIP(cn)) return x.checkIP(cn) !== undefined;
  const want = `dns:${cn.toLowerCase()}`;
  return (x.subjectAltName ?? '').split(', ').some((entry) => entry.toLowerCase() === want);
}

function generate(dir: string, hostname: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const cn = certName(hostname);
  const san = isIP(cn) ? `IP:${cn}` : `DNS:${cn}`;
  // Written beside the final names and renamed, so an interrupted run never leaves a half-written pair that is reused.
  const keyTmp = path.join(dir, 'self-signed.key.tmp');
  const certTmp = path.join(dir, 'self-signed.crt.tmp');
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '3650',
      '-subj', `/CN=${cn}`, '-addext', `subjectAltName=${san},DNS:localhost,IP:127.0.0.1`, '-keyout', keyTmp, '-out', certTmp], { stdio: 'ignore' });
  } catch (e) {
    rmSync(keyTmp, { force: true }); rmSync(certTmp, { force: true });
    throw new Error(`cannot generate a self-signed certificate with openssl (${(e as Error).message}); install openssl or set server.tls.cert and server.tls.key`);
  }
  renameSync(keyTmp, path.join(dir, 'self-signed.key'));
  renameSync(certTmp, path.join(dir, 'self-signed.crt'));
}

/**
 * Returns the configured key and certificate, checked, or a self-signed pair under `dataDir/tls/`, created once and
 * reused until it nears its end or server.hostname changes. Throws an error naming the config key and file for anything
 * unusable.
 */
export function loadTls(opts: { cert?: string; key?: string; dataDir: string; hostname: string } & Partial<TlsProtocols>): TlsMaterial {
  const protocols: TlsProtocols = { minVersion: opts.minVersion ?? 'TLSv1.2', ciphers: opts.ciphers };
  if (opts.cert || opts.key) {
    if (!opts.cert || !opts.key) throw new Error(`server.tls: cert and key must be set together (only ${opts.cert ? 'cert' : 'key'} is set)`);
    const key = readPem(opts.key, 'server.tls.key');
    const cert = readPem(opts.cert, 'server.tls.cert');
    const expires = check(key, cert, protocols, `server.tls (cert ${opts.cert}, key ${opts.key})`, opts.key);
    return { key, cert, generated: false, expires, ...protocols };
  }
  const dir = path.join(opts.dataDir, 'tls');
  const cn = certName(opts.hostname);
  const keyFile = path.join(dir, 'self-signed.key');
  const certFile = path.join(dir, 'self-signed.crt');
  const usable = (): TlsMaterial | undefined => {
    if (!existsSync(keyFile) || !existsSync(certFile)) return undefined;
    const key = readFileSync(keyFile);
    const cert = readFileSync(certFile);
    let expires: Date;
    try { expires = check(key, cert, protocols, dir); } catch { return undefined; }
    if (expires.getTime() - Date.now() <= RENEW_BEFORE_MS) return undefined;
    // Made for an earlier server.hostname: a client checking the name would find the old one, so it is made anew.
    return names(cert, cn) ? { key, cert, generated: true, expires, ...protocols } : undefined;
  };
  const existing = usable();
  if (existing) return existing;
  generate(dir, opts.hostname);
  const made = usable();
  if (!made) throw new Error(`the self-signed certificate generated under ${dir} is not usable`);
  return made;
}
