// The path of a MAIL FROM or RCPT TO line and the parameters after it, with a quoted local part kept whole.
//
// Why: RFC 5321 §4.1.2 allows a space inside a quoted local part (`<"a b"@b.example>`), which Postfix accepts, but
// smtp-server and a plain split on whitespace take the space for the end of the path and the rest for a parameter.

/** Where the path that starts at `start` (a `<`) ends, just after its `>`; -1 when it does not end on this line. */
function pathEnd(text: string, start: number): number {
  let quoted = false;
  for (let i = start + 1; i < text.length; i++) {
    const c = text[i];
    if (quoted && c === '\\') { i++; continue; }
    if (c === '"') quoted = !quoted;
    else if (c === '>' && !quoted) return i + 1;
  }
  return -1;
}

/**
 * `<"a b"@b.example> SIZE=10` → path `<"a b"@b.example>`, params `['SIZE=10']`. A line whose path is not in angle
 * brackets, or whose brackets do not close, splits at the first space, as smtp-server splits it.
 */
export function splitPathAndParams(afterColon: string): { path: string; params: string[] } {
  const text = afterColon.trim();
  // Nearly every path has no quoted part: its end is its first `>`, found without the character walk.
  const end = !text.startsWith('<') ? -1 : text.includes('"') ? pathEnd(text, 0) : text.indexOf('>') + 1 || -1;
  if (end < 0) {
    const [path = '', ...params] = text.split(/\s+/);
    return { path, params };
  }
  const rest = text.slice(end).trim();
  return { path: text.slice(0, end), params: rest ? rest.split(/\s+/) : [] };
}

/**
 * The command line with every space inside the path's quoted strings replaced by a character the line does not hold,
 * and the way back, for a parser that splits at spaces; undefined when the path has no such space.
 */
export function shieldQuotedSpaces(line: string): { line: string; restore(address: string): string } | undefined {
  if (!line.includes('"')) return undefined;
  const colon = line.indexOf(':');
  if (colon < 0) return undefined;
  const open = line.indexOf('<', colon);
  if (open < 0 || line.slice(colon + 1, open).trim() !== '') return undefined;
  const end = pathEnd(line, open);
  if (end < 0) return undefined;
  let quoted = false;
  let path = '';
  let shielded = false;
  // A private-use character: no address has a use for it, and one the line holds is never chosen.
  let mark = 0xe000;
  while (line.includes(String.fromCharCode(mark))) mark++;
  const stand = String.fromCharCode(mark);
  for (let i = open; i < end; i++) {
    const c = line[i];
    const next = line[i + 1] ?? '';
    if (quoted && c === '\\') { path += c + (next === ' ' ? stand : next); shielded ||= next === ' '; i++; continue; }
    if (c === '"') quoted = !quoted;
    if (quoted && c === ' ') { path += stand; shielded = true; continue; }
    path += c;
  }
  if (!shielded) return undefined;
  return {
    line: line.slice(0, open) + path + line.slice(end),
    restore: (address) => address.split(stand).join(' '),
  };
}
