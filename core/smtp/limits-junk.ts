// limits.max_junk_commands: the commands that move no mail, as Postfix's smtpd_junk_command_limit names them. A client
// that sends thousands of them in a row holds a connection slot (and our replies) for nothing; past the limit it is
// told 421 and dropped. The count starts again when a message is taken, so a long session that delivers is unaffected.

/**
 * NOOP, VRFY, ETRN, RSET and HELP, as Postfix counts them (ETRN is not offered here: it also gets 500 as unknown).
 * HELP's 214 is a line of text for nothing, as cheap to ask a hundred thousand times as NOOP.
 */
const JUNK_VERBS: ReadonlySet<string> = new Set(['NOOP', 'VRFY', 'ETRN', 'RSET', 'HELP']);

export function isJunkVerb(verb: string): boolean { return JUNK_VERBS.has(verb); }

export const JUNK_REFUSAL = { code: 421, text: '4.7.0 Too many commands that send no mail, closing connection' } as const;
