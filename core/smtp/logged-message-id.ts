// The Message-ID as a message's log lines and queue entry carry it, so that an admin finds a message by the ID a user
// quotes, as Postfix's cleanup logs `message-id=<…>`. It is the sender's text, so it is bounded and its control
// characters are written out (`\x1b`) here: JSON lines leave DEL, the C1 controls and U+2028 as they are, and a
// terminal or a line-splitting log reader would act on them.
import { isUtf8 } from 'node:buffer';
import { parseHeaderBlock } from '../message/header-block.ts';
import { forTerminal } from '../queue/inspect.ts';

/** Most characters kept, the mark of a cut included: a real Message-ID is well under 100. */
export const MESSAGE_ID_MAX = 200;

const CUT = '…';

/**
 * The header's value trimmed, its control characters escaped, and cut to MESSAGE_ID_MAX characters (marked with `…`,
 * never inside an escape or a surrogate pair); undefined when the field is missing or empty. Header values hold one
 * latin1 character per byte: an ID in UTF-8 (SMTPUTF8 mail) is decoded, so the log shows it as the user sees it and
 * a grep for it matches.
 */
export function loggedMessageId(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  // Blanks around it go only after decoding: trim() takes latin1's 0xa0 for one, and it may end a UTF-8 letter (`à`).
  let id = value;
  const eightBit = /[\x80-\xff]/.test(id) && !/[^\x00-\xff]/.test(id);
  if (eightBit && isUtf8(Buffer.from(id, 'latin1'))) id = Buffer.from(id, 'latin1').toString('utf8');
  id = id.trim();
  if (!id) return undefined;
  const shown = forTerminal(id, Infinity);
  if (shown.length <= MESSAGE_ID_MAX) return shown;
  let out = '';
  // By code point, each escaped on its own: the cut falls between two whole characters or escapes.
  for (const ch of id) {
    const piece = forTerminal(ch);
    if (out.length + piece.length > MESSAGE_ID_MAX - CUT.length) break;
    out += piece;
  }
  return out + CUT;
}

/** The Message-ID of a raw header section (one the gateway refused before it became a message: too large). */
export function messageIdOfHeaderBlock(block: Buffer): string | undefined {
  const field = parseHeaderBlock(block.toString('latin1')).find((f) => f.name.toLowerCase() === 'message-id');
  return loggedMessageId(field?.value);
}
