// Header fields that make a part's structure a matter of which reader reads it. The gateway, mailparser and Python
// take the first of two Content-Type fields (or of two boundary parameters); a mail program that takes the last
// reads another structure, in which an attachment no check saw can be. Such a part is reported, not guessed at.
import { parseMimeValue } from './mime-params.ts';

/** Why a part with these header fields can be read two ways, or undefined when it cannot. */
export function ambiguousFields(fields: ReadonlyArray<{ name: string; value: string }>): string | undefined {
  for (const name of ['content-type', 'content-transfer-encoding']) {
    if (fields.filter((f) => f.name.toLowerCase() === name).length > 1) return `a part has more than one ${name} field`;
  }
  const type = fields.find((f) => f.name.toLowerCase() === 'content-type');
  if (type && parseMimeValue(type.value).all.filter(([n]) => n === 'boundary').length > 1) return 'a part declares more than one boundary';
  return undefined;
}

/** The reason given for a delimiter line with transport padding (see delimiter-padding.ts). */
export const PADDED_DELIMITER = 'a boundary delimiter line ends in white space, which some mail programs do not read as a delimiter';
