// Exchange's notices copy the returned message's header section out in full ("Original message headers:"), which
// makes them longer than a notice may be. That copy is not counted against the notice's size when it is the returned
// part's header section, character for character but for white space (folding, line breaks, indentation): the
// returned part is scored, so the copy's Subject, addresses and hosts are scored there (the values of fields read by
// name alone are not: the README says what that leaves). A copy that differs by one character is counted.

/** `text` with each run of white space made one space, and where in `text` each of its characters stood. */
function collapsedWithPlaces(text: string): { text: string; at: number[] } {
  const out: string[] = [];
  const at: number[] = [];
  let i = 0;
  while (i < text.length) {
    const ws = /\s/.test(text[i]);
    let j = i + 1;
    if (ws) while (j < text.length && /\s/.test(text[j])) j++;
    out.push(ws ? ' ' : text[i]);
    at.push(i);
    i = j;
  }
  return { text: out.join(''), at };
}

/**
 * The bytes of `notice` that quote the header section `header`, from the first of its characters to the last: 0 when
 * the notice holds no such copy (or the header section is empty).
 */
export function quotedHeaderBytes(notice: string, header: string): number {
  const wanted = header.replace(/\s+/g, ' ').trim();
  if (!wanted) return 0;
  const c = collapsedWithPlaces(notice);
  const from = c.text.indexOf(wanted);
  if (from < 0) return 0;
  return c.at[from + wanted.length - 1] + 1 - c.at[from];
}

/** The header section of a returned message: up to its first empty line (all of it, when it has none). */
export function headerSectionOf(message: string): string {
  const end = /\r?\n\r?\n/.exec(message);
  return end ? message.slice(0, end.index) : message;
}
