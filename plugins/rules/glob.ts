// Shell-style wildcards (`*`, `?`) matched without a regex: attachment names and addresses come from the sender, and
// a pattern of several stars turned into a backtracking regex could take time that grows with a power of their length.

/** True when `text` matches `pattern` as a whole, ignoring case; `*` is any run of characters, `?` any one. */
export function globMatch(pattern: string, text: string): boolean {
  const p = pattern.toLowerCase();
  const t = text.toLowerCase();
  let pi = 0;
  let ti = 0;
  // The last star seen and where the text stood then: on a mismatch the star takes one more character, so each
  // character of the text is passed over a bounded number of times per star instead of every combination.
  let star = -1;
  let mark = 0;
  while (ti < t.length) {
    if (pi < p.length && (p[pi] === '?' || p[pi] === t[ti])) { pi++; ti++; continue; }
    if (pi < p.length && p[pi] === '*') { star = pi++; mark = ti; continue; }
    if (star < 0) return false;
    pi = star + 1;
    ti = ++mark;
  }
  while (pi < p.length && p[pi] === '*') pi++;
  return pi === p.length;
}
