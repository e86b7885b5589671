// The closed list of hooks, in SMTP session order.

export const HOOK_NAMES = [
  'connect',      // a client connected (after PROXY/XCLIENT resolved its address)
  'helo',         // HELO or EHLO
  'capabilities', // EHLO accepted: the keywords of the 250 reply (plugins add or remove them; outcomes are ignored)
  'mailFrom',     // MAIL FROM
  'rcptTo',       // each RCPT TO
  'dataStart',    // the DATA command, before 354
  'data',         // the whole message is spooled: content checks, before the verdict
  'afterVerdict', // the verdict is known (informational: outcomes are ignored)
  'noop',         // NOOP, at any point of the session
  'vrfy',         // VRFY with an argument
  'rset',         // RSET (the transaction is reset whatever the outcome)
  'unrecognizedCommand', // a verb the front door does not know
  'quit',         // QUIT (the connection closes whatever the outcome)
  'disconnect',   // the connection closed (informational)
] as const;

export type HookName = (typeof HOOK_NAMES)[number];

/**
 * Hooks whose outcome is ignored and whose failures are only logged: they observe (or, for capabilities, edit
 * `ctx.capabilities` in place), they cannot refuse.
 */
export const OBSERVING_HOOKS: ReadonlySet<HookName> = new Set(['capabilities', 'afterVerdict', 'disconnect']);

/** Hooks of the commands that may come at any point of a session: NOOP, VRFY, RSET, QUIT and unknown verbs. */
export type CommandHookName = 'noop' | 'vrfy' | 'rset' | 'unrecognizedCommand' | 'quit';
