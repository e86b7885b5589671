// Whom the relay's TLS trusts, and which name a next hop's certificate must carry.
//
// Node's own default trusts only the Mozilla list it was built with (plus NODE_EXTRA_CA_CERTS): a CA an admin added
// to the system store (update-ca-certificates) was not trusted, although the settings promise the system CAs. The
// relay trusts both, or with `tls_ca_file` that file's CAs instead, as Postfix's smtp_tls_CAfile does (its default
// tls_append_default_CA = no).
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';

const MIN_VERSION = 'TLSv1.2';
const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

let systemAndBundled: tls.SecureContext | undefined;

/** The system store and Node's list (with NODE_EXTRA_CA_CERTS), read once per process: loading ~600 CAs costs ~50 ms. */
function defaultContext(): tls.SecureContext {
  if (systemAndBundled) return systemAndBundled;
  const cas = new Set<string>(tls.getCACertificates('default'));
  // A machine without a readable system store still has Node's list.
  try { for (const c of tls.getCACertificates('system')) cas.add(c); } catch { /* none */ }
  systemAndBundled = tls.createSecureContext({ ca: [...cas], minVersion: MIN_VERSION });
  return systemAndBundled;
}

/** The certificates of a PEM bundle; throws with what is wrong with it. */
function certificatesOf(pem: string): string[] {
  const found = pem.match(PEM_CERTIFICATE) ?? [];
  if (found.length === 0) throw new Error('holds no PEM certificate (-----BEGIN CERTIFICATE-----)');
  found.forEach((c, i) => {
    try { new X509Certificate(c); } catch (e) { throw new Error(`certificate ${i + 1} of ${found.length} cannot be read: ${(e as Error).message}`); }
  });
  return found;
}

/**
 * The context for a TLS session: the default trust, or a `tls_ca_file` read anew for each connection, so a renewed
 * bundle applies without a reload. A file that cannot be used defers the delivery with a line that names it.
 */
export async function trustContext(caFile: string | undefined): Promise<tls.SecureContext> {
  if (caFile === undefined) return defaultContext();
  let pem: string;
  try { pem = await readFile(caFile, 'utf8'); } catch (e) { throw new Error(`cannot read tls_ca_file ${caFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`); }
  try { return tls.createSecureContext({ ca: certificatesOf(pem), minVersion: MIN_VERSION }); } catch (e) { throw new Error(`tls_ca_file ${caFile} ${(e as Error).message}`); }
}

/** Why `file` cannot serve as `tls_ca_file`, or undefined: what check-config, start and reload refuse. */
export function caFileProblem(file: string): string | undefined {
  if (!file.startsWith('/')) return 'must be an absolute path';
  let pem: string;
  try { pem = readFileSync(file, 'utf8'); } catch (e) { return `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`; }
  try { certificatesOf(pem); } catch (e) { return `${file} ${(e as Error).message}`; }
  return undefined;
}

/**
 * The name the certificate must carry, and the SNI to send. A URL's host is checked as given: an address against the
 * certificate's IP entries, a name against its DNS entries (MX delivery connects to an address but checks the MX
 * host's name). SNI only carries names (RFC 6066 §3), so an address sends none, as Postfix does.
 */
export function peerIdentity(host: string, servername: string | undefined): { name: string; sni?: string } {
  const name = servername ?? host;
  return { name, sni: net.isIP(name) ? undefined : name };
}

/** tls.connect options that check the certificate against `name` whatever socket or address the session runs on. */
export function identityOptions(host: string, servername: string | undefined): Pick<tls.ConnectionOptions, 'servername' | 'checkServerIdentity'> {
  const { name, sni } = peerIdentity(host, servername);
  return { servername: sni, checkServerIdentity: (_given, cert) => tls.checkServerIdentity(name, cert) };
}

/** OpenSSL's codes for a certificate that chains to no CA the session trusts, a self-signed one among them. */
const UNTRUSTED = new Set(['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT']);

/** The advice Node adds to some of these, to run it with --use-system-ca: the relay trusts that store already. */
const NODE_HINT = /;\s*if the root CA is installed locally.*$/s;

/**
 * A TLS error as the log line and `moat queue list` give it. A certificate refused for want of a trusted CA says
 * which CAs were trusted and what the admin can change: the CA named in tls_ca_file (the smarthost's or the route's),
 * or tls_verify: false. Node's advice about its command line is dropped wherever it appears.
 */
export function tlsErrorText(e: Error, caFile: string | undefined): string {
  const text = e.message.replace(NODE_HINT, '');
  if (!UNTRUSTED.has((e as NodeJS.ErrnoException).code ?? '')) return text;
  const trusted = caFile !== undefined ? `its CA is not in tls_ca_file ${caFile}` : "its CA is in neither the system store nor Node's CA list";
  const fix = caFile !== undefined ? 'add the CA to that file' : 'name the CA (or this certificate) in tls_ca_file';
  return `${text} (${trusted}: ${fix}, or set tls_verify: false to take the certificate unchecked)`;
}
