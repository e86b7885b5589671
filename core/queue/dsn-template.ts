// Built-in texts of delivery status notifications and the {token} substitution admins use to replace them.

export interface DsnTokens {
  postmaster: string;
  hostname: string;
  /** Who the notice goes to: the original envelope sender. */
  recipient: string;
  date: string;
  arrival_date: string;
  message_id: string;
  queue_id: string;
  subject: string;
  /** One line per recipient: address and the remote reply. */
  failed: string;
  recipients: string;
  headers: string;
  age: string;
  retry_until: string;
}

export const DEFAULT_TEMPLATES = {
  failure: {
    subject: 'Undelivered Mail Returned to Sender',
    text: [
      'This is the mail system at {hostname}.',
      '',
      'Your message {message_id} (subject "{subject}"), received {arrival_date},',
      'could not be delivered to one or more of its recipients. This is a permanent',
      'error; the system will not try again.',
      '',
      '{failed}',
      '',
      'If you need help, write to <{postmaster}> and include this notice.',
      'The headers of your message are attached.',
    ].join('\n'),
  },
  delay: {
    subject: 'Delayed Mail (still being retried)',
    text: [
      'This is the mail system at {hostname}.',
      '',
      'Your message {message_id} (subject "{subject}"), received {arrival_date},',
      'has not been delivered yet to the recipients below after {age}. The system',
      'keeps trying until {retry_until}; you do not need to send it again.',
      '',
      '{failed}',
      '',
      'If you need help, write to <{postmaster}>.',
    ].join('\n'),
  },
} as const;

/** Replaces `{name}` with its value; unknown tokens are left as written so a typo shows in the notice. */
export function fillTemplate(template: string, tokens: DsnTokens): string {
  return template.replace(/\{([a-z_]+)\}/g, (whole, name: string) =>
    Object.hasOwn(tokens, name) ? tokens[name as keyof DsnTokens] : whole);
}
