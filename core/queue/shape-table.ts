// `moat queue --shape` as text, laid out as qshape lays it out: a column per age bucket headed by its upper bound in
// minutes (`640+`: older), the TOTAL row first, then the domains busiest first.
import { domainLabel } from './domain-label.ts';
import { SHAPE_BOUNDS_MINUTES, type QueueShape, type ShapeRow } from './shape.ts';

const HEADS = ['T', ...SHAPE_BOUNDS_MINUTES.map(String), `${SHAPE_BOUNDS_MINUTES[SHAPE_BOUNDS_MINUTES.length - 1]}+`];

/** The lines of the table, and a line for what it leaves out (domains past --top, held messages). */
export function shapeLines(shape: QueueShape): string[] {
  const rows: ShapeRow[] = [shape.total, ...shape.domains];
  const names = rows.map((r) => (r === shape.total ? r.domain : domainLabel(r.domain, 200)));
  const cells = rows.map((r) => [r.messages, ...r.buckets].map(String));
  // Reduced, not spread: a queue for 150,000 domains would pass more arguments than a call may take.
  const nameWidth = names.reduce((w, n) => Math.max(w, n.length), 0);
  const widths = HEADS.map((h, i) => cells.reduce((w, c) => Math.max(w, c[i].length), h.length));
  const line = (name: string, values: string[]) => `${name.padStart(nameWidth)} ${values.map((v, i) => v.padStart(widths[i])).join(' ')}`;
  const out = [line('', HEADS), ...rows.map((_, i) => line(names[i], cells[i]))];
  const left: string[] = [];
  if (shape.omitted) left.push(`${shape.omitted} more domain(s) not shown (--top)`);
  if (shape.held) left.push(`${shape.held} held message(s) not counted`);
  if (left.length) out.push(`(${left.join('; ')})`);
  return out;
}
