// Messages built part by part for the content-edit tests (remove_attachments, disclaimer), with CRLF line ends.

/** One part: its header lines, a blank line, its body. */
export const part = (headers: string[], body: string) => [...headers, '', body].join('\r\n');

/** A multipart of `parts` under `boundary`, as one part of a message or the message's own content; `extra` adds parameters. */
export const multipart = (subtype: string, boundary: string, parts: string[], extra = '') =>
  part([`Content-Type: multipart/${subtype}; boundary="${boundary}"${extra}`], [...parts.flatMap((p) => [`--${boundary}`, p]), `--${boundary}--`].join('\r\n'));

/** A whole message whose content is `body` (a part, content fields first). */
export const message = (subject: string, body: string, from = 'a@elsewhere.example', to = 'ann@example.com') =>
  [`From: ${from}`, `To: ${to}`, `Subject: ${subject}`, 'MIME-Version: 1.0', body, ''].join('\r\n');

/** An attachment part: `data` base64-encoded in lines of 76, under its name and declared type. */
export const file = (name: string, type: string, data: Buffer) => part(
  [`Content-Type: ${type}; name="${name}"`, `Content-Disposition: attachment; filename="${name}"`, 'Content-Transfer-Encoding: base64'],
  (data.toString('base64').match(/.{1,76}/g) ?? []).join('\r\n'),
);
