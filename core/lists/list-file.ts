// An admin's list file (access.recipients_file, auth.sender_logins): read whole at start and at each reload, and
// refused with the lines at fault, never taken in part, since a list missing its bad lines refuses mail it should not.
import { readFileSync } from 'node:fs';

/** Problems listed in one message; a file that is wrong throughout needs only the first few to be understood. */
const PROBLEMS_SHOWN = 3;

/** The first few of `problems`, one after the other, and how many more there are. */
export function firstProblems(problems: readonly string[]): string {
  const more = problems.length > PROBLEMS_SHOWN ? `; and ${problems.length - PROBLEMS_SHOWN} more` : '';
  return `${problems.slice(0, PROBLEMS_SHOWN).join('; ')}${more}`;
}

/**
 * The entries `parse` reads from `file`, or an Error that says what is wrong: a relative path, a file that cannot be
 * read, the first few lines at fault, or no entry at all (`emptyMeans` says what that would do).
 */
export function readListFile<E>(file: string, parse: (text: string) => { entries: E[]; problems: string[] }, emptyMeans: string): E[] {
  if (!file.startsWith('/')) throw new Error('must be an absolute path');
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch (e) {
    throw new Error(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const { entries, problems } = parse(text);
  if (problems.length) throw new Error(`${file}: ${firstProblems(problems)}`);
  if (entries.length === 0) throw new Error(`${file} lists no address: ${emptyMeans}`);
  return entries;
}

/** Why `file` cannot serve, as readListFile's Error says, or undefined when it can (check-config, start, reload). */
export function listFileProblem<E>(file: string, parse: (text: string) => { entries: E[]; problems: string[] }, emptyMeans: string): string | undefined {
  try { readListFile(file, parse, emptyMeans); } catch (e) { return (e as Error).message; }
  return undefined;
}
