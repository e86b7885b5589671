// Makes a DKIM key pair: the private key into a file only its owner may read, and the record to publish.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { MIN_RSA_BITS } from './key-file.ts';

export type KeyType = 'rsa' | 'ed25519';

/** RSA keys past 4096 bits outgrow what many resolvers and verifiers take (RFC 8301 §3.2 asks verifiers for 4096). */
const MAX_RSA_BITS = 4096;

/** Why `bits` is no RSA size to make, or undefined. */
export function rsaBitsProblem(bits: number): string | undefined {
  if (!Number.isInteger(bits) || bits < MIN_RSA_BITS || bits > MAX_RSA_BITS) return `--bits must be a whole number from ${MIN_RSA_BITS} to ${MAX_RSA_BITS} (2048 advised)`;
  return undefined;
}

/** A new private key, written to `file` with mode 0600; an existing file is never replaced (it may be a key in use). */
export function writeNewKey(file: string, type: KeyType, bits: number): KeyObject {
  const folderProblem = keyFolderProblem(file);
  if (folderProblem) throw new Error(folderProblem);
  const { privateKey } = type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: bits }) : generateKeyPairSync('ed25519');
  writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
  return privateKey;
}

/** Why the folder `file` goes in cannot take it, or undefined: said before a key is made, naming the folder. */
function keyFolderProblem(file: string): string | undefined {
  const folder = path.dirname(path.resolve(file));
  if (!existsSync(folder)) return `cannot write ${file}: the folder ${folder} does not exist (create it, mode 0700, or choose another --out)`;
  if (!statSync(folder).isDirectory()) return `cannot write ${file}: ${folder} is not a folder`;
  return undefined;
}
