// Changes `moat queue` makes to the queue files while no gateway runs. The command prints what it did, but the
// gateway's log is where an admin traces a message; so each change is noted in data_dir/admin-trail.jsonl and the
// gateway's next start logs the notes, with the fields a change made through the running gateway is logged with.
import { appendFileSync, readFileSync, unlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '../log/types.ts';
import type { AdminActions, AdminResult, AdminVerb } from './admin-ops.ts';
import { selectionFields } from './actions.ts';

export interface TrailNote {
  /** When the change was made (ISO time). */
  at: string;
  op: AdminVerb;
  qid?: string;
  /** delete --to, requeue --to: the domain whose recipients went, or were requeued; --recipient: that address. */
  to?: string;
  /** The outcome, as the control socket reports it (for flush: how many messages were made due). */
  result: AdminResult | number;
  /** The account that ran the command, and its process. */
  by: string;
  pid: number;
}

/** The notes' file, in data_dir. */
export const TRAIL_FILE = 'admin-trail.jsonl';
const trailFile = (dataDir: string) => path.join(dataDir, TRAIL_FILE);

function account(): string {
  try { return os.userInfo().username; } catch { return `uid ${process.getuid?.() ?? '?'}`; }
}

/** Notes one change. A note that cannot be written must not undo or hide the change made: it is warned of instead. */
function note(dataDir: string, n: Omit<TrailNote, 'at' | 'by' | 'pid'>): void {
  const full: TrailNote = { at: new Date().toISOString(), ...n, by: account(), pid: process.pid };
  try {
    appendFileSync(trailFile(dataDir), JSON.stringify(full) + '\n', { mode: 0o600 });
  } catch (e) {
    process.emitWarning(`cannot note the change in ${trailFile(dataDir)}: ${(e as Error).message}`);
  }
}

/** The file actions, each change noted for the gateway's log. */
export class TrailedActions implements AdminActions {
  private readonly inner: AdminActions;
  private readonly dataDir: string;
  constructor(inner: AdminActions, dataDir: string) { this.inner = inner; this.dataDir = dataDir; }

  async flush(id?: string): Promise<number> {
    const n = await this.inner.flush(id);
    note(this.dataDir, { op: 'flush', ...(id ? { qid: id } : {}), result: n });
    return n;
  }
  async hold(id: string): Promise<AdminResult> { return this.noted('hold', id, await this.inner.hold(id)); }
  async release(id: string): Promise<AdminResult> { return this.noted('release', id, await this.inner.release(id)); }
  async delete(id: string, opts: { to?: string } = {}): Promise<AdminResult> {
    return this.noted('delete', id, await this.inner.delete(id, opts), opts.to);
  }
  async requeue(id: string, opts: { to?: string } = {}): Promise<AdminResult> {
    if (!this.inner.requeue) throw new Error('requeue is not available here');
    return this.noted('requeue', id, await this.inner.requeue(id, opts), opts.to);
  }

  async releaseForRecipient(id: string, address: string): Promise<AdminResult> {
    if (!this.inner.releaseForRecipient) throw new Error('release for one recipient is not available here');
    return this.noted('release', id, await this.inner.releaseForRecipient(id, address), address);
  }
  async deleteForRecipient(id: string, address: string): Promise<AdminResult> {
    if (!this.inner.deleteForRecipient) throw new Error('delete for one recipient is not available here');
    return this.noted('delete', id, await this.inner.deleteForRecipient(id, address), address);
  }

  private noted(op: TrailNote['op'], qid: string, result: AdminResult, to?: string): AdminResult {
    note(this.dataDir, { op, qid, ...(to ? { to } : {}), result });
    return result;
  }
}

/** A note's outcome as a control request's line gives it: `result` a word, a flush's number as `count` beside it. */
function resultOf(result: TrailNote['result']): { result: AdminResult | 'done'; count?: number } {
  return typeof result === 'number' ? { result: 'done', count: result } : { result };
}

/**
 * Logs the changes noted since the gateway last ran, then removes the notes; returns how many were logged. Called
 * once the gateway holds the queue, so no `moat queue` adds a note meanwhile.
 */
export function logTrail(dataDir: string, log: Logger): number {
  let text: string;
  try { text = readFileSync(trailFile(dataDir), 'utf8'); } catch { return 0; }
  let logged = 0;
  for (const line of text.split('\n')) {
    if (!line) continue;
    let n: TrailNote;
    try { n = JSON.parse(line) as TrailNote; } catch { log.warn('unreadable line in the admin trail', { file: trailFile(dataDir) }); continue; }
    log.info('queue edited while the gateway was stopped', { op: n.op, qid: n.qid, ...(n.to ? selectionFields(n.to) : {}), ...resultOf(n.result), at: n.at, by: n.by, pid: n.pid });
    logged++;
  }
  try { unlinkSync(trailFile(dataDir)); } catch (e) { log.warn('cannot remove the admin trail once logged', { file: trailFile(dataDir), error: (e as Error).message }); }
  return logged;
}
