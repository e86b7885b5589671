// The envelope sealed at the end of a queued message file, so one fsync makes message and envelope durable together.
// Layout: <message bytes> <envelope JSON> FOOTER, FOOTER = "\n#mailmoat:" <HMAC hex, 64> ":" <JSON length, 10 digits> "\n".
// The HMAC (key kept in the queue folder) means message content that merely looks like a seal is never taken for one.
import { createHmac, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import type { QueueEntry } from './entry.ts';

const TAG = '\n#mailmoat:';
export const FOOTER_LENGTH = TAG.length + 64 + 1 + 10 + 1;

/** A sealing key, created on first use (queue.key through queue-key.ts, which decides when; quarantine.key). */
export function loadSealKey(file: string): KeyObject {
  if (existsSync(file)) return createSecretKey(readFileSync(file));
  const key = randomBytes(32);
  writeFileSync(`${file}.tmp`, key, { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
  // A KeyObject made once: createHmac with a raw Buffer would rebuild one for every message.
  return createSecretKey(key);
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
