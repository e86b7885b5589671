// TLS material for the listeners: the configured files, or a self-signed certificate generated on first start.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';

export interface TlsMaterial { key: Buffer; cert: Buffer; generated: boolean }

/** Returns the configured key and certificate, or creates a self-signed pair under `dataDir/tls/` once and reuses it. */
export function loadTls(opts: { cert?: string; key?: string; dataDir: string; hostname: string }): TlsMaterial {
  if (opts.cert && opts.key) return { key: readFileSync(opts.key), cert: readFileSync(opts.cert), generated: false };
  const dir = path.join(opts.dataDir, 'tls');
  const keyFile = path.join(dir, 'self-signed.key');
  const certFile = path.join(dir, 'self-signed.crt');
  if (!existsSync(keyFile) || !existsSync(certFile)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const cn = opts.hostname.replace(/[^A-Za-z0-9.-]/g, '') || 'localhost';
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '3650',
      '-subj', `/CN=${cn}`, '-addext', `subjectAltName=DNS:${cn},DNS:localhost,IP:127.0.0.1`, '-keyout', keyFile, '-out', certFile], { stdio: 'ignore' });
  }
  return { key: readFileSync(keyFile), cert: readFileSync(certFile), generated: true };
}
