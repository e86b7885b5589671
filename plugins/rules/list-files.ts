// The rules' list files, read at start and on every reload, and read again when one changes on disk (Rspamd reloads
// a multimap's map file the same way): a poll of each file's stat every `list_check`, not fs.watch, which misses an
// editor's save-and-rename on some file systems and says nothing over NFS. A changed file that cannot be read, or
// whose lines are refused, leaves its list as it was and is logged; the next change is tried again.
import { readFileSync, statSync, type Stats } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Issue, Logger } from '../../core/index.ts';
import { firstProblems } from '../../core/lists/list-file.ts';
import { parseRuleList, type ListKind, type ListRead, type RuleList } from './lists.ts';

/** One `lists:` entry: its name as written (in messages) and as criteria name it (lower case), its file, its kind. */
interface ListFile { key: string; name: string; file: string; kind: ListKind }

function listFilesOf(files: Record<string, string>, configDir: string, kinds: ReadonlyMap<string, ListKind>): ListFile[] {
  return Object.entries(files).map(([key, file]) => {
    const name = key.toLowerCase();
    return { key, name, file: path.resolve(configDir, file), kind: kinds.get(name) ?? 'address' };
  });
}

const cannotRead = (file: string, e: unknown) => `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;

/** Its lines read, or an Error saying why the list cannot be used (`lists.NAME: …`). */
function parsed(l: ListFile, text: string): ListRead {
  const read = parseRuleList(text, l.kind, l.file);
  if (read.problems.length) throw new Error(`lists.${l.key}: ${firstProblems(read.problems)}`);
  return read;
}

/** The warning line of a list's entries that can never match, led by its key path under `at` (`plugins[2]`). */
function warningOf(l: ListFile, warnings: string[], at: string): string | undefined {
  return warnings.length ? `${at ? `${at}.` : ''}lists.${l.key}: ${firstProblems(warnings)}` : undefined;
}

/**
 * For `moat check-config`: each list file that cannot be read, or whose lines the start would refuse, as an issue;
 * entries that can never match as warnings. Read, never kept.
 */
export function checkListFiles(files: Record<string, string>, configDir: string, kinds: ReadonlyMap<string, ListKind>, at: string, warn?: (message: string) => void): Issue[] {
  const issues: Issue[] = [];
  for (const l of listFilesOf(files, configDir, kinds)) {
    let text: string;
    try { text = readFileSync(l.file, 'utf8'); } catch (e) { issues.push({ path: `lists.${l.key}`, message: cannotRead(l.file, e) }); continue; }
    const read = parseRuleList(text, l.kind, l.file);
    if (read.problems.length) issues.push({ path: `lists.${l.key}`, message: firstProblems(read.problems) });
    const w = warningOf(l, read.warnings, at);
    if (w) warn?.(w);
  }
  return issues;
}

/** What tells a file changed: a rename over it (inode), its size, its times. A missing file is a stamp of its own. */
const stampOf = (st: Stats | undefined) => (st ? `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}` : 'missing');

export class ListFiles {
  private lists: ReadonlyMap<string, RuleList>;
  private readonly files: ListFile[];
  private readonly stamps = new Map<string, string>();
  private readonly log: Logger;
  private readonly at: string;
  private readonly checkMs: number;
  private timer?: NodeJS.Timeout;
  private polling?: Promise<void>;

  /**
   * Reads every list; a file that cannot be read, or an IP list with a line that is no address or network, stops the
   * start (or the reload) with its name and path. Entries that can never match are warned of. `checkMs`: how often
   * `watch` looks at the files for a change (0: never; a reload still reads them).
   */
  constructor(files: Record<string, string>, configDir: string, kinds: ReadonlyMap<string, ListKind>, o: { log: Logger; checkMs: number; at: string }) {
    this.files = listFilesOf(files, configDir, kinds);
    this.log = o.log;
    this.at = o.at;
    const lists = new Map<string, RuleList>();
    for (const l of this.files) {
      // Stated before the read: a change made while it is read is then seen by the next look.
      this.stamps.set(l.name, stampOf(statSync(l.file, { throwIfNoEntry: false })));
      let text: string;
      try { text = readFileSync(l.file, 'utf8'); } catch (e) { throw new Error(`lists.${l.key}: ${cannotRead(l.file, e)}`); }
      const read = parsed(l, text);
      const w = warningOf(l, read.warnings, this.at);
      if (w) this.log.warn(w);
      lists.set(l.name, read.list);
    }
    this.lists = lists;
    this.checkMs = o.checkMs;
  }

  /** Starts looking for changes, once the plugin that uses the lists has been made (a failed start leaves no timer). */
  watch(): void {
    if (this.timer || this.checkMs <= 0 || this.files.length === 0) return;
    this.timer = setInterval(() => { this.polling ??= this.poll().finally(() => { this.polling = undefined; }); }, this.checkMs);
    this.timer.unref();
  }

  /** The lists as they are now, by lower-case name: a message takes them once, so a reload midway does not split it. */
  get current(): ReadonlyMap<string, RuleList> { return this.lists; }

  /** Entries in each list, for the log. */
  sizes(): Record<string, number> {
    return Object.fromEntries(this.files.map((l) => [l.key, this.lists.get(l.name)?.entries.size ?? 0]));
  }

  /** Looks at every file once; those that changed are read again. */
  async poll(): Promise<void> {
    for (const l of this.files) {
      const before = stampOf(await stat(l.file).catch(() => undefined));
      if (before === this.stamps.get(l.name)) continue;
      let text: string;
      try { text = await readFile(l.file, 'utf8'); } catch (e) {
        this.stamps.set(l.name, before);
        this.refused(l, cannotRead(l.file, e));
        continue;
      }
      // Still being written (an editor or a script writing in place): the next look reads it whole.
      if (stampOf(await stat(l.file).catch(() => undefined)) !== before) continue;
      this.stamps.set(l.name, before);
      let read: ListRead;
      try { read = parsed(l, text); } catch (e) { this.refused(l, (e as Error).message); continue; }
      const previous = this.lists.get(l.name)?.entries.size ?? 0;
      this.lists = new Map(this.lists).set(l.name, read.list);
      this.log.info('list reloaded', { list: l.key, file: l.file, entries: read.list.entries.size, previous_entries: previous });
      const w = warningOf(l, read.warnings, this.at);
      if (w) this.log.warn(w);
    }
  }

  private refused(l: ListFile, why: string): void {
    this.log.error('list not reloaded: the list in use stays as it was', { list: l.key, file: l.file, error: why });
  }

  /** Stops looking; a poll under way finishes first. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.polling;
  }
}
