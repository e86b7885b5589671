// data_dir/queue.key: the HMAC key of the journal's records and of the envelopes sealed at the end of message files.
// Only what takes the queue over (a start, or `moat queue` editing the files while no gateway runs) creates it, and
// only when no file is there that a lost key sealed: with a new key every such file would fail its check, so a start
// refuses (naming the fix) rather than create one. Views (`moat queue list`, `show`) never write it; they say it is
// missing when a file they must read needs it.
import type { KeyObject } from 'node:crypto';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { loadSealKey, readSealKey } from './envelope-seal.ts';
import { isSegmentName } from './journal-record.ts';

export const QUEUE_KEY_FILE = 'queue.key';

/**
 * Files of data_dir that only queue.key can verify: journal segments, and message files with no state file beside
 * them (their envelope is sealed inside). A folder that cannot be listed counts for nothing here: the read that needs
 * it fails on its own, with its own reason.
 */
export function filesNeedingKey(dataDir: string): { segments: number; sealedFiles: number } {
  const names = (dir: string) => { try { return readdirSync(path.join(dataDir, dir)); } catch { return []; } };
  const segments = names('journal').filter(isSegmentName).length;
  const queue = new Set(names('queue'));
  let sealedFiles = 0;
  for (const n of queue) if (n.endsWith('.eml') && !queue.has(`${n.slice(0, -4)}.json`)) sealedFiles++;
  return { segments, sealedFiles };
}

/** A read or a take-over that needs queue.key while data_dir has none. */
export class QueueKeyMissingError extends Error {
  readonly code = 'EQUEUEKEY';
}

function missingText(dataDir: string, found: { segments: number; sealedFiles: number }, doing: string): string {
  const what = [
    found.segments ? `${found.segments} journal segment(s)` : '',
    found.sealedFiles ? `${found.sealedFiles} message file(s) without a state file` : '',
  ].filter(Boolean).join(' and ');
  return `${path.join(dataDir, QUEUE_KEY_FILE)} is missing, and ${what} in the queue were sealed with it: ${doing}. `
    + 'Restore queue.key from the same backup as the queue; a new key would not verify them (see "Backup" in the README)';
}

export class QueueKey {
  readonly dataDir: string;
  readonly file: string;
  private key?: KeyObject;

  constructor(dataDir: string) {
    this.dataDir = dataDir;
    this.file = path.join(dataDir, QUEUE_KEY_FILE);
  }

  /**
   * The key once data_dir has one (read once, then kept); undefined while it has none. A file that holds anything but
   * a whole key throws (envelope-seal.ts): taken, it would seal new mail with a known key and fail every sealed file.
   */
  get current(): KeyObject | undefined {
    this.key ??= readSealKey(this.file);
    return this.key;
  }

  /**
   * The key for a read of sealed files: undefined when data_dir has none and nothing needs one (an empty queue);
   * throws, saying what cannot be read, when sealed files are there without it.
   */
  forReading(): KeyObject | undefined {
    const key = this.current;
    if (key) return key;
    const found = filesNeedingKey(this.dataDir);
    if (found.segments || found.sealedFiles) throw new QueueKeyMissingError(missingText(this.dataDir, found, 'they cannot be read without it'));
    return undefined;
  }

  /**
   * The key for taking the queue over: created when data_dir has none and holds nothing sealed; with sealed files
   * and no key, throws (a start stops there: see the README's Backup).
   */
  forTakeOver(): KeyObject {
    const key = this.current;
    if (key) return key;
    const found = filesNeedingKey(this.dataDir);
    if (found.segments || found.sealedFiles) throw new QueueKeyMissingError(missingText(this.dataDir, found, 'the queue is not taken over without it'));
    return this.forWriting();
  }

  /** The key to seal with (a commit comes after the take-over, which made sure of it; a test's store makes one here). */
  forWriting(): KeyObject {
    this.key ??= loadSealKey(this.file);
    return this.key;
  }
}
