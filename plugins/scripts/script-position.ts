// Where in a script's file a syntax error lies. V8 and vm2's parser (acorn) both give it only in the error's stack, as
// Node's "arrow": `file:line`, the source line, then a caret under the column.
import { moduleOpening } from './protocol.ts';

/** Line ends as JavaScript counts them. */
const LINE_END = /\r\n|[\n\r\u2028\u2029]/;

/**
 * `line:column` (both from 1) of a syntax error in `source` compiled by moduleSource(head, source), or undefined when
 * the error carries no position. Columns on the first line leave out the wrapper's opening; an error in the wrapper's
 * closing line (an unclosed brace) is placed just after the end of the file's last line that is not empty.
 */
export function syntaxErrorAt(e: unknown, head: string, source: string): string | undefined {
  if (!(e instanceof Error) || e.name !== 'SyntaxError' || typeof e.stack !== 'string') return undefined;
  const arrow = /^[^\n]*:(\d+)\n[^\n]*\n([^\n^]*)\^/.exec(e.stack);
  if (!arrow) return undefined;
  let line = Number(arrow[1]);
  let column = arrow[2].length + 1;
  if (line === 1) column = Math.max(1, column - moduleOpening(head).length);
  const lines = source.split(LINE_END);
  if (line > lines.length) {
    line = lines.length;
    while (line > 1 && lines[line - 1] === '') line--;
    column = lines[line - 1].length + 1;
  }
  return `${line}:${column}`;
}
