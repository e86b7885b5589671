// What a filter script receives and may return: the contract between script authors and the plugin.
//
// A script is CommonJS-style JavaScript that sets `module.exports` to a function (plain or async). It gets a
// MessageSnapshot, plain data copied for this call, and returns a ScriptResult or nothing.

export interface SnapshotHeader {
  name: string;
  /**
   * Unfolded value, as text: raw 8-bit bytes read as UTF-8 where they are UTF-8 (RFC 6532), else as Windows-1252;
   * RFC 2047 encoded words left as written (`subject` is the decoded Subject).
   */
  value: string;
}

export interface SnapshotAttachment {
  /** The name mail programs save the part under (mailparser's choice), or null. */
  filename: string | null;
  /**
   * Every file name the part declares (filename and name parameters), `filename` first: a sender may give a part a
   * harmless name and an executable one, so a check on names reads all of them.
   */
  names: string[];
  contentType: string;
  size: number;
  /** For an attachment of an attached message: the names of the messages it is in, outermost first; [] at the top. */
  within: string[];
}

export interface SnapshotFinding {
  symbol: string;
  score: number;
  detail: string | null;
  plugin: string;
}

export interface MessageSnapshot {
  /** The queue id, as the gateway's log shows it. */
  id: string;
  envelope: { from: string; to: string[] };
  client: { ip: string; hostname: string | null; helo: string | null; user: string | null; tls: boolean; trusted: boolean };
  /** Header fields in message order (the first SNAPSHOT_LIMITS.headers, each value cut at SNAPSHOT_LIMITS.headerValue). */
  headers: SnapshotHeader[];
  /** True when the message has more header fields than `headers` lists. */
  headersTruncated: boolean;
  /**
   * The decoded Subject, '' when there is none: raw 8-bit bytes read as `headers` reads them, then its encoded words
   * decoded (one in a charset Node does not know is left as written, RFC 2047 §6.2).
   */
  subject: string;
  /** Decoded text of the message (text parts, and HTML parts without one as text), cut at the plugin's max_text. */
  text: string;
  /** True when `text` was cut, by the plugin or by the gateway's own text limits. */
  textTruncated: boolean;
  urls: string[];
  /** True when the message has more URLs than `urls` lists. */
  urlsTruncated: boolean;
  /** Every attachment, those of attached messages included (up to SNAPSHOT_LIMITS.attachments). */
  attachments: SnapshotAttachment[];
  /** True when `attachments` misses some: more than SNAPSHOT_LIMITS.attachments, or a part with more names than kept. */
  attachmentsTruncated: boolean;
  /**
   * Why part of the MIME structure was not read (its attachments and text are missing from this snapshot), or null
   * when all of it was. With on_incomplete at its default (`reject`) a script never sees such a message.
   */
  structureIncomplete: string | null;
  /** Containers (multiparts, attached messages) around the deepest part: 0 single-part, 1 text and attachments. */
  mimeDepth: number;
  /** Size in bytes of the message as received. */
  size: number;
  /** Findings of the plugins before this one in the chain, and their total score. */
  findings: SnapshotFinding[];
  /** True when there were more findings than `findings` lists (`score` counts them all). */
  findingsTruncated: boolean;
  score: number;
  /** Added in the sandbox: the first value of a header, case-insensitive name, or undefined. */
  header?(name: string): string | undefined;
}

export interface ScriptFinding {
  /** Upper-case letters, digits and `_`; `SCRIPT_` is put in front unless it is there already. */
  symbol: string;
  score: number;
  /** Made one line of printable ASCII and cut at RESULT_LIMITS.detail characters. */
  detail?: string;
}

export type ScriptActionType = 'reject' | 'tempfail' | 'quarantine' | 'discard';

export interface ScriptAction {
  /**
   * reject: 550 5.7.1 (or `code` 550/552/554); tempfail: 451 4.7.1 (or `code` 450/451/452); quarantine: 250 and kept
   * in data_dir/quarantine; discard: 250 and delivered to no one.
   */
  type: ScriptActionType;
  /** Reply text (or quarantine/discard reason), made one line of printable ASCII and cut at RESULT_LIMITS.text characters. */
  text?: string;
  code?: number;
}

export interface ScriptResult {
  findings?: ScriptFinding[];
  /** Headers to prepend to the relayed message. */
  addHeaders?: Array<{ name: string; value: string }>;
  /** Header names to remove from the relayed message (every field of each name). */
  removeHeaders?: string[];
  action?: ScriptAction;
}

/** The bounds of a snapshot, so that one message cannot make a call's input large. */
export const SNAPSHOT_LIMITS = {
  headers: 200,
  headerValue: 4_000,
  urls: 500,
  url: 2_048,
  attachments: 5_000,
  /** Declared names kept per attachment. */
  attachmentNames: 10,
  /** A longer file name keeps its first and last half of this, so its extension stays. */
  fileName: 1_000,
  contentType: 255,
  findings: 200,
} as const;

/** What a script may write to the gateway's log through `console`, per script per message. */
export const LOG_LIMITS = {
  lines: 20,
  chars: 500,
} as const;

/** The bounds of a result; more is a script error, not a silent cut. */
export const RESULT_LIMITS = {
  /** Characters of the result as JSON, checked in the sandbox before it is sent, once `detail` and `text` are cut. */
  chars: 64 * 1024,
  findings: 50,
  headers: 20,
  detail: 200,
  text: 200,
  headerName: 76,
  headerValue: 998,
  maxScore: 1_000,
} as const;
