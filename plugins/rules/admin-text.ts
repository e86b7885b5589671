// Text an admin writes for mail (a removal notice, a disclaimer, a notify template), checked at load.

/** A line longer than SMTP carries (998 octets, RFC 5321 §4.5.3.1) would have to be cut inside the admin's text. */
export const MAX_LINE = 900;

/** Text an admin wrote for a message part: not empty, no NUL, lines of at most MAX_LINE characters. */
export function partTextProblem(v: unknown): string | undefined {
  if (typeof v !== 'string' || v.trim() === '') return 'expected a non-empty text';
  if (v.includes('\0')) return 'may not hold a NUL character';
  if (v.split(/\r?\n/).some((l) => l.length > MAX_LINE)) return `has a line over ${MAX_LINE} characters: break it into lines`;
  return undefined;
}
