// The envelope sealed at the end of a queued message file, so one fsync makes message and envelope durable together.
// Layout: <message bytes> <envelope JSON> FOOTER, FOOTER = "\n#mailmoat:" <HMAC hex, 64> ":" <JSON length, 10 digits> "\n".
// The HMAC (key kept in the queue folder) means message content that merely looks like a seal is never taken for one.
import { createHmac, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { FileHandle } from 'node:fs/promises';
import type { QueueEntry } from './entry.ts';

const TAG = '\n#mailmoat:';
export const FOOTER_LENGTH = TAG.length + 64 + 1 + 10 + 1;

/** Bytes of a sealing key: what `loadSealKey` writes, and all a key file may hold. */
export const SEAL_KEY_BYTES = 32;

/** A key file that holds anything but a key: refused, as a key of 0 bytes would seal new mail with a known key. */
export class SealKeyInvalidError extends Error {
  readonly code = 'ESEALKEY';
}

/**
 * The key a key file holds; undefined when there is no file. Throws SealKeyInvalidError when it holds anything but
 * SEAL_KEY_BYTES bytes (an empty file left by a power cut before its write reached the disk, a copy cut short).
 */
export function readSealKey(file: string): KeyObject | undefined {
  let bytes: Buffer;
  try { bytes = readFileSync(file); } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  if (bytes.length !== SEAL_KEY_BYTES) {
    throw new SealKeyInvalidError(`${file} holds ${bytes.length} bytes, not a ${SEAL_KEY_BYTES}-byte key: cut short (a power cut while it was written, a partial copy?). `
      + 'Restore it from the backup it came from. Removed, it is replaced by a new key at the next start, and nothing the lost one sealed verifies (see "Backup" in the README)');
  }
  // A KeyObject made once: createHmac with a raw Buffer would rebuild one for every message.
  return createSecretKey(bytes);
}

function syncDirOf(file: string): void {
  const fd = openSync(path.dirname(file), 'r');
  try { fsyncSync(fd); } finally { closeSync(fd); }
}

/**
 * A sealing key, created on first use (queue.key through queue-key.ts, which decides when; quarantine.key). A new key
 * is on disk (file and folder fsync'd) before it is returned: what it seals is fdatasync'd, and a key lost to a power
 * cut would leave all of that unverifiable. It appears under its name whole or not at all (a hard link of a complete
 * temporary file), and a process that loses a race to create it uses the one that won.
 */
export function loadSealKey(file: string): KeyObject {
  const existing = readSealKey(file);
  if (existing) return existing;
  const key = randomBytes(SEAL_KEY_BYTES);
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    for (let off = 0; off < key.length;) off += writeSync(fd, key, off);
    fsyncSync(fd);
  } finally { closeSync(fd); }
  try {
    linkSync(tmp, file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  } finally { unlinkSync(tmp); }
  syncDirOf(file);
  return readSealKey(file)!;
}

export function sealEnvelope(entry: QueueEntry, key: KeyObject): Buffer {
  const json = Buffer.from(JSON.stringify(entry));
  const mac = createHmac('sha256', key).update(json).digest('hex');
  return Buffer.concat([json, Buffer.from(`${TAG}${mac}:${String(json.length).padStart(10, '0')}\n`)]);
}

/**
 * What the end of a message file holds: its envelope (`entry`); no seal at all (`unsealed`: a message still arriving,
 * or cut short, never committed as it stands); or a seal that parses but does not verify (`wrong-key`: sealed with
 * another queue.key, or damaged), or verifies but not for the bytes before it (`damaged`). Only `unsealed` may be
 * taken for a file never acknowledged.
 */
export type SealCheck = { entry: QueueEntry } | { problem: 'unsealed' | 'wrong-key' | 'damaged' };

export async function checkSeal(fh: FileHandle, key: KeyObject): Promise<SealCheck> {
  const { size } = await fh.stat();
  if (size < FOOTER_LENGTH) return { problem: 'unsealed' };
  const footer = Buffer.alloc(FOOTER_LENGTH);
  await fh.read(footer, 0, FOOTER_LENGTH, size - FOOTER_LENGTH);
  const m = /^\n#mailmoat:([0-9a-f]{64}):(\d{10})\n$/.exec(footer.toString('latin1'));
  if (!m) return { problem: 'unsealed' };
  const len = Number(m[2]);
  if (len > size - FOOTER_LENGTH) return { problem: 'unsealed' };
  const json = Buffer.alloc(len);
  await fh.read(json, 0, len, size - FOOTER_LENGTH - len);
  if (createHmac('sha256', key).update(json).digest('hex') !== m[1]) return { problem: 'wrong-key' };
  try {
    const entry = JSON.parse(json.toString('utf8')) as QueueEntry;
    return entry.size === size - FOOTER_LENGTH - len ? { entry } : { problem: 'damaged' };
  } catch { return { problem: 'damaged' }; }
}
