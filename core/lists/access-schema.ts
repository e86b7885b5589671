// The config values of the access address lists: entries that can match an address, and a recipients file that can
// be read, refused by check-config, start and reload alike.
import { s } from '../config/schema.ts';
import { addressEntryProblem } from './address-entry.ts';
import { recipientTableProblem } from './recipient-table.ts';

/** One entry of access.blocked_recipients or blocked_senders: `user@domain` or `@domain`. */
export const addressEntry = s.checked(s.string(), (v, p, is) => {
  const problem = addressEntryProblem(v);
  if (problem) is.push({ path: p, message: `${JSON.stringify(v)} ${problem}` });
});

/** access.recipients_file: an absolute path to a readable list (core/lists/recipient-table.ts). */
export const recipientsFile = s.checked(s.string({ minLength: 1 }), (v, p, is) => {
  const problem = recipientTableProblem(v);
  if (problem) is.push({ path: p, message: problem });
});
