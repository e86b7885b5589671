// The connections smtp-server ends on its own with a 421 (no handler of ours decides them): which reply means which
// reason, so the log can say why the client was dropped, as Postfix logs `too many errors after UNKNOWN`.
// A command line over 16 KB is none of them: line-too-long.ts answers it with 500 and the session goes on.

/** smtp-server's own 421 texts (and ours that stand in for one), each with the reason the log gives. */
const OWN_DROPS: ReadonlyArray<[RegExp, string]> = [
  [/You talk too soon$/, 'talked before the greeting'],
  [/Error: too many unrecognized commands$/, 'too many unrecognized commands'],
  [/^Error: too many unauthenticated commands$/, 'too many unauthenticated commands'],
  [/^HTTP requests not allowed$/, 'HTTP request'],
];

/**
 * The reason for a 421 smtp-server sends when it drops a client itself, or undefined for any other reply (a 421 a
 * handler of ours chose is logged where it is chosen; the idle timeout and a stop have lines of their own).
 */
export function ownDropReason(code: number, text: string | string[] | undefined): string | undefined {
  if (code !== 421 || typeof text !== 'string') return undefined;
  return OWN_DROPS.find(([re]) => re.test(text))?.[1];
}
