// The Subject a quarantined message is kept with. The verdict's `scores.subject_tag` marks spam that is delivered;
// quarantined mail is delivered only once a person released it as wanted, and then it must come out with the
// Subject it had before the gateway's tag (as Proxmox Mail Gateway delivers the original), or a mailbox rule that
// files tagged subjects as junk would put the released message back there. So the quarantine stores it untagged.
import { formatHeader, taggedSubject } from '../message/header-block.ts';

export interface TaggedHeaders {
  /** The header lines the message would leave with, the verdict's tagged Subject among them. */
  prepend: string;
  /** The lower-case names of the fields removed from the message as received. */
  remove: readonly string[];
  /** The verdict's tag (`scores.subject_tag`). */
  tag: string;
  /** The client's own Subject, as the intake read it (absent: it sent none). */
  clientSubject: string | undefined;
  /** The header fields plugins added, and the names of those they removed. */
  pluginHeaders: ReadonlyArray<readonly [string, string]>;
  pluginRemoved: ReadonlySet<string>;
}

/**
 * The header lines and removals of a message whose Subject the verdict tagged, with the tag taken off again: a
 * Subject a plugin put in place of the client's is kept as the plugin wrote it, and otherwise the client's own
 * Subject field stays where it was, byte for byte (our tagged copy dropped, and `subject` no longer removed unless a
 * plugin removed it). This mirrors where the intake (core/smtp/message-intake.ts) put the tag; when the tagged line
 * is not found there, the headers are returned as they are, tagged, rather than guessed at.
 */
export function withoutSubjectTag(h: TaggedHeaders): { prepend: string; remove: string[] } {
  const unchanged = { prepend: h.prepend, remove: [...h.remove] };
  const pluginSubject = h.pluginRemoved.has('subject') ? h.pluginHeaders.find(([n]) => n.toLowerCase() === 'subject')?.[1] : undefined;
  const tagged = formatHeader('Subject', taggedSubject(h.tag, pluginSubject ?? h.clientSubject ?? ''));
  // The tagged line is the last Subject the intake wrote: a plugin's own untagged Subject may stand before it.
  const at = h.prepend.lastIndexOf(tagged);
  if (at < 0) return unchanged;
  const untagged = pluginSubject === undefined ? '' : formatHeader('Subject', pluginSubject);
  const prepend = h.prepend.slice(0, at) + untagged + h.prepend.slice(at + tagged.length);
  const remove = pluginSubject === undefined && !h.pluginRemoved.has('subject') ? h.remove.filter((n) => n !== 'subject') : [...h.remove];
  return { prepend, remove };
}
