// `name=value` pairs (HTML attributes) found in one pass.
//
// One global regex of name and value together rescans a long run of name characters from each of its positions
// when no `=` follows (a 40 KB run took 5 s). Here each run of name characters is found once and the value is
// tried only at its end: the same pairs, since a start inside a run meets the same end and fails the same way.

/**
 * Calls `take(name, value)` for every run of `nameRun` (a global regex) directly followed by a match of `value`
 * (a sticky regex that starts at the run's end and consumes at least one character); the next name is looked for
 * after that value.
 */
export function eachNameValue(s: string, nameRun: RegExp, value: RegExp, take: (name: string, value: RegExpExecArray) => void): void {
  nameRun.lastIndex = 0;
  let run: RegExpExecArray | null;
  while ((run = nameRun.exec(s))) {
    value.lastIndex = run.index + run[0].length;
    const m = value.exec(s);
    if (!m) continue;
    take(run[0], m);
    nameRun.lastIndex = value.lastIndex;
  }
}
