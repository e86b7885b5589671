// A login as a reply line names it (`not owned by user alice`, `rate limit exceeded for user alice`): the name is the
// client's to choose at AUTH, or a proxy's with XCLIENT LOGIN=, so it is bounded and kept to printable ASCII.

/** Most characters of a login a reply keeps; a longer one is no person's, and the log has it whole (to 100). */
const SHOWN_MAX = 64;

export function loginInReply(user: string): string {
  const printable = user.replace(/[^\x21-\x7e]/g, '?');
  return printable.length <= SHOWN_MAX ? printable : `${printable.slice(0, SHOWN_MAX - 3)}...`;
}
