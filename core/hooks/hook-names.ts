// The closed list of hooks, in SMTP session order.

export const HOOK_NAMES = [
  'connect',      // a client connected (after PROXY/XCLIENT resolved its address)
  'helo',         // HELO or EHLO
  'mailFrom',     // MAIL FROM
  'rcptTo',       // each RCPT TO
  'dataStart',    // the DATA command, before 354
  'data',         // the whole message is spooled: content checks, before the verdict
  'afterVerdict', // the verdict is known (informational: outcomes are ignored)
  'disconnect',   // the connection closed (informational)
] as const;

export type HookName = (typeof HOOK_NAMES)[number];

/** Hooks whose outcome is ignored: they observe, they cannot change the reply. */
export const OBSERVING_HOOKS: ReadonlySet<HookName> = new Set(['afterVerdict', 'disconnect']);
