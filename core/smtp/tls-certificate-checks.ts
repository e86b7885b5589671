// What is wrong with a configured certificate and key, said in terms an admin can act on: OpenSSL's own words for the
// two usual mistakes ("bad decrypt", "key values mismatch") name neither the cause nor the fix.
import { X509Certificate, createPrivateKey } from 'node:crypto';

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** A key written with a passphrase: PKCS#8 `ENCRYPTED PRIVATE KEY`, or the traditional form's `Proc-Type: 4,ENCRYPTED`. */
function isEncryptedKey(key: Buffer): boolean {
  const text = key.toString('latin1');
  return text.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----') || /^Proc-Type:\s*4,\s*ENCRYPTED/m.test(text);
}

/** The 0-based place in the certificate file of the certificate `key` belongs to, or -1. */
function placeOfKeysCertificate(key: Buffer, certFile: Buffer): number {
  let privateKey;
  try { privateKey = createPrivateKey(key); } catch { return -1; }
  const pems = certFile.toString('latin1').match(PEM_CERTIFICATE) ?? [];
  return pems.findIndex((pem) => {
    try { return new X509Certificate(pem).checkPrivateKey(privateKey); } catch { return false; }
  });
}

/**
 * OpenSSL's reason why the pair cannot serve, with what it means and how to mend it for the mistakes admins make. The
 * original reason stays in the text, so a search for it still finds the answer.
 */
export function explainPairError(key: Buffer, cert: Buffer, error: Error, keyFile = 'KEY'): string {
  const reason = error.message;
  if (isEncryptedKey(key) || (error as NodeJS.ErrnoException).code === 'ERR_OSSL_BAD_DECRYPT') {
    return `${reason}: the private key is protected by a passphrase, which the gateway does not support (it would need the `
      + 'passphrase at every start and reload); write the key without one, readable by the gateway\'s user only: '
      + `\`openssl pkey -in ${keyFile} -out ${keyFile}.plain\` (it asks for the passphrase), then point server.tls.key at ${keyFile}.plain`;
  }
  if (/key values mismatch/i.test(reason)) {
    const at = placeOfKeysCertificate(key, cert);
    if (at > 0) {
      return `${reason}: the key belongs to certificate ${at + 1} in the certificate file, not to the first one; the file's `
        + 'first certificate must be the server\'s own, followed by its chain (intermediates, leaf first, as Postfix\'s '
        + 'smtpd_tls_chain_files and nginx expect)';
    }
    return `${reason}: the key does not belong to the first certificate in the certificate file, which must be the `
      + 'server\'s own, followed by its chain; check that cert and key are from the same pair';
  }
  return reason;
}

/**
 * Warnings for a certificate outside its validity period: still served (a sending MTA mostly does not verify, and
 * refusing it would stop all mail), but a client that verifies, or checks DANE, refuses it.
 */
export function validityWarnings(cert: Buffer, file: string, now = Date.now()): string[] {
  const x = new X509Certificate(cert);
  const from = new Date(x.validFrom);
  const to = new Date(x.validTo);
  if (to.getTime() < now) {
    return [`server.tls.cert ${file} expired on ${to.toISOString()}; it is still served, but clients that verify certificates refuse it: renew it`];
  }
  if (from.getTime() > now) {
    return [`server.tls.cert ${file} is not valid until ${from.toISOString()}; it is served, but clients that verify certificates refuse it until then (or check this machine's clock)`];
  }
  return [];
}

/** A certificate this close to its end is warned about once a day, so a renewal that failed is noticed in time. */
export const EXPIRY_WARNING_MS = 14 * 86_400_000;

/** When the first certificate of a PEM file stops being valid. */
export const certificateExpiry = (cert: Buffer): Date => new Date(new X509Certificate(cert).validTo);

/**
 * The daily warning for a certificate that ends within EXPIRY_WARNING_MS or has ended, or undefined. `file`: the
 * configured certificate, or undefined for the self-signed one, which a start or reload makes anew before its end.
 */
export function expiryWarning(expires: Date, file: string | undefined, now = Date.now()): string | undefined {
  const left = expires.getTime() - now;
  if (left > EXPIRY_WARNING_MS) return undefined;
  const which = file ? `server.tls.cert ${file}` : 'the self-signed certificate';
  const renew = file ? 'renew it and reload (moat reload)' : 'a reload or restart makes a new one';
  if (left <= 0) return `${which} expired on ${expires.toISOString()}; clients that verify certificates refuse it: ${renew}`;
  const days = Math.floor(left / 86_400_000);
  return `${which} expires on ${expires.toISOString()} (in ${days === 0 ? 'less than a day' : `${days} day${days === 1 ? '' : 's'}`}): ${renew}`;
}
