// A DKIM private key file, read and parsed once at start and at each reload. Errors name the file, never its content.
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';

/** RFC 8301 §3.2: signers MUST use RSA keys of at least 1024 bits; 2048 is what `moat dkim keygen` makes. */
export const MIN_RSA_BITS = 1024;

export interface SigningKey {
  key: KeyObject;
  /** The `k=` of the DNS record and the first half of `a=`. */
  type: 'rsa' | 'ed25519';
}

/**
 * Why a key file at `mode` is unsafe, or undefined: a private key that other users on the host may read, or that its
 * group may replace, can sign mail as the domain from anywhere. OpenDKIM's RequireSafeKeys refuses such keys for the
 * same reason. Group read stays allowed: root-owned keys readable by the gateway's group (0640) are a usual layout.
 */
function keyModeProblem(file: string, mode: number): string | undefined {
  const who = [mode & 0o020 ? 'written by its group' : '', mode & 0o007 ? 'read or written by other users' : ''].filter(Boolean).join(' and ');
  if (!who) return undefined;
  const shown = (mode & 0o777).toString(8).padStart(4, '0');
  return `${file} (mode ${shown}) may be ${who}: a DKIM private key must be readable by its owner (and at most its group) alone; chmod 600 ${file}`;
}

/** The key in `file`; throws an Error that names the file and says what is wrong with it. */
export function readSigningKey(file: string): SigningKey {
  const key = parsedKey(file);
  const unsafe = keyModeProblem(file, statSync(file).mode);
  if (unsafe) throw new Error(unsafe);
  return key;
}

function parsedKey(file: string): SigningKey {
  if (!file.startsWith('/')) throw new Error(`${file}: must be an absolute path`);
  let pem: Buffer;
  try { pem = readFileSync(file); } catch (e) {
    throw new Error(`cannot read DKIM key ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let key: KeyObject;
  // The parser's own message may quote the input: only its code is passed on.
  try { key = createPrivateKey(pem); } catch (e) {
    throw new Error(`${file} is not a PEM private key without a passphrase (${(e as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
  const type = key.asymmetricKeyType;
  if (type === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) throw new Error(`${file} holds a ${bits}-bit RSA key: DKIM needs at least ${MIN_RSA_BITS} bits (2048 advised)`);
    return { key, type };
  }
  if (type === 'ed25519') return { key, type };
  throw new Error(`${file} holds a ${type ?? 'unknown'} key: DKIM signs with RSA or Ed25519`);
}

/** Why `file` cannot serve as a DKIM key, or undefined when it can (check-config, start, reload). */
export function signingKeyProblem(file: string): string | undefined {
  try { readSigningKey(file); } catch (e) { return (e as Error).message; }
  return undefined;
}
