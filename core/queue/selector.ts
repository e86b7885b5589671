// Which messages a `moat queue` command acts on, or `list` shows, when no id names them: a folder, the states in it,
// the envelope (a recipient, or a recipient domain, still to do; a sender), the login it was sent under, and its age. Postfix's `postsuper -h ALL deferred` is the model:
// every verb reads the same selectors, and each only picks the messages it can change.
import type { QueueFolder } from './queue-store.ts';
import type { AdminVerb } from './admin-ops.ts';
import { stateOf, type ListedEntry, type ListRow } from './inspect.ts';
import { domainArg, inSelection, isAddressArg } from './actions.ts';
import { mailboxKey } from '../lists/address-matcher.ts';
import { parseDuration } from '../config/units.ts';

export type QueueState = ListRow['state'];

/** The folder each state is found in. */
const STATE_FOLDER: Readonly<Record<QueueState, QueueFolder>> = {
  active: 'queue', due: 'queue', deferred: 'queue', held: 'queue', dead: 'deadletter', quarantined: 'quarantine',
};

const STATES = Object.keys(STATE_FOLDER) as QueueState[];

/**
 * The states whose messages a verb changes: `release --all` picks held messages (a scheduled one has nothing to
 * release), `flush` deferred ones (a due one goes anyway), `requeue` dead-lettered ones.
 */
const VERB_STATES: Readonly<Record<AdminVerb, readonly QueueState[]>> = {
  flush: ['deferred'],
  hold: ['active', 'due', 'deferred'],
  release: ['held', 'quarantined'],
  delete: STATES,
  requeue: ['dead'],
};

/** A problem with the command line; the CLI shows it as a usage error. */
export class SelectorError extends Error {}

export interface Selector {
  folder: QueueFolder;
  /** The states picked within the folder. */
  states: ReadonlySet<QueueState>;
  /** Messages with a recipient still to do at this address, or in this domain (as recipientSelector gives them). */
  to?: string;
  /** Messages from this envelope sender (its mailbox, in any spelling: mailboxKey); '' is the null sender of bounces. */
  from?: string;
  /** Messages a client sent logged in as this user (a compromised account's), exactly as the login was given. */
  user?: string;
  /** Messages received at least this many ms ago (`--older-than 2d`: what an outage left behind). */
  olderThan?: number;
  /** Messages received less than this many ms ago. */
  newerThan?: number;
}

/** `--state deferred,held` as a list of states; every state of the list must be in one folder. */
export function parseStates(value: string): QueueState[] {
  const states = value.split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== '');
  for (const s of states) if (!(s in STATE_FOLDER)) throw new SelectorError(`unknown state ${JSON.stringify(s)} (${STATES.join(', ')})`);
  if (!states.length) throw new SelectorError(`--state takes one or more of ${STATES.join(', ')}`);
  const folders = new Set(states.map((s) => STATE_FOLDER[s as QueueState]));
  if (folders.size > 1) throw new SelectorError(`--state ${value}: those states are in different folders (${[...folders].join(', ')}); give one folder's states`);
  return [...new Set(states)] as QueueState[];
}

/** Characters of a shell pattern: a selector is a whole domain or address, so `'*'` is a mistake, not "nothing matched". */
const PATTERN = /[*?[\]]/;

const patternHint = (text: string) => (PATTERN.test(text) ? ' (no patterns: --all selects every message)' : '');

/**
 * A domain as the admin typed it (`@Example.org.`, `müller.example`), in the form domainOf gives (lower-case A-labels:
 * `xn--mller-kva.example`); an address literal `[192.0.2.1]` too.
 */
function domainSelector(value: string, option: string): string {
  const raw = value.trim();
  const d = domainArg(raw);
  const literal = /^\[[^\]\s]+\]$/.test(d);
  const name = /^[^\s@]+$/.test(d) && !PATTERN.test(d) && d.split('.').every((label) => label !== '');
  if (!literal && !name) throw new SelectorError(`${option}, not ${JSON.stringify(value)}${patternHint(raw)}`);
  return d;
}

/** A whole address, lower case (`<…>` taken off); undefined for '' or `<>`. */
function addressSelector(value: string, option: string): string | undefined {
  const s = value.trim().replace(/^<(.*)>$/, '$1').toLowerCase();
  if (s === '') return undefined;
  const at = s.lastIndexOf('@');
  if (at <= 0 || /\s/.test(s)) throw new SelectorError(`${option}, not ${JSON.stringify(value)}${patternHint(s)}`);
  domainSelector(s.slice(at + 1), option);
  return s;
}

/**
 * A recipient selection as the admin typed it: an address (`alice@corp.example`, `<Alice@Corp.Example>`: that one
 * recipient) or a domain (`corp.example`, `@corp.example`: all of its recipients).
 */
export function recipientSelector(value: string): string {
  const option = '--to takes an address or a domain';
  const bare = value.trim().replace(/^<(.*)>$/, '$1');
  if (bare === '') throw new SelectorError(`${option}, not ${JSON.stringify(value)} (bounces are picked by --from '<>')`);
  return isAddressArg(bare) ? addressSelector(bare, option)! : domainSelector(bare, option);
}

/** A sender as the envelope holds it: `<>` and '' are the null sender of bounces; anything else a whole address. */
export function senderSelector(value: string): string {
  return addressSelector(value, "--from takes an address, or '<>' for bounces") ?? '';
}

/**
 * A login as the users file holds it: matched exactly, as AUTH matches it (`Alice` is not `alice`). A login has no
 * spaces; `--user ''` would pick the mail of nobody in particular, which is no selection.
 */
export function userSelector(value: string): string {
  if (value === '' || /\s/.test(value)) throw new SelectorError(`--user takes a login as the users file has it, not ${JSON.stringify(value)}`);
  return value;
}

/**
 * An age as the admin typed it, with its unit (`30m`, `2h`, `4d`, `1w`): a bare number would be milliseconds, as in
 * the config, which no one means by "older than 3".
 */
export function ageSelector(value: string, option: '--older-than' | '--newer-than'): number {
  const ms = /^\s*\d+(?:\.\d+)?\s*(?:s|m|h|d|w)\s*$/i.test(value) ? parseDuration(value) : undefined;
  if (ms === undefined) throw new SelectorError(`${option} takes an age with its unit, such as 30m, 2h or 4d, not ${JSON.stringify(value)}`);
  return ms;
}

/**
 * The folder and states a command picks from, for a verb (or for `list`, no verb): the folder named, or the one
 * the states are in, or the verb's usual one (dead-letter for requeue, else the queue). A folder or state the verb
 * cannot change is refused rather than selecting nothing.
 */
export function scope(verb: AdminVerb | undefined, folder: QueueFolder | undefined, states: readonly QueueState[] | undefined): { folder: QueueFolder; states: Set<QueueState> } {
  const usable = verb ? VERB_STATES[verb] : STATES;
  if (states) {
    const folderOfStates = STATE_FOLDER[states[0]];
    if (folder && folder !== folderOfStates) throw new SelectorError(`--state ${states.join(',')} is not in the ${folder} folder`);
    const unusable = states.filter((s) => !usable.includes(s));
    if (unusable.length) throw new SelectorError(`${verb} does not apply to ${unusable.join(', ')} messages (it applies to ${usable.join(', ')})`);
    return { folder: folderOfStates, states: new Set(states) };
  }
  const picked = folder ?? (verb === 'requeue' ? 'deadletter' : 'queue');
  const inFolder = usable.filter((s) => STATE_FOLDER[s] === picked);
  if (!inFolder.length) throw new SelectorError(`${verb} does not apply to the ${picked} folder`);
  return { folder: picked, states: new Set(inFolder) };
}

/**
 * Whether a message has a recipient still to do among those `to` names (an address, or a domain's): a pending one, or
 * in dead-letter a failed one (what a requeue would send again); delivered recipients are done wherever they are.
 */
function openIn(e: ListedEntry, folder: QueueFolder, to: string): boolean {
  const open = folder === 'deadletter' ? 'failed' : 'pending';
  return e.recipients.some((r) => r.status === open && inSelection(r.address, to));
}

/** Whether a message's envelope sender is `from` (a sender selection): the null sender, or that mailbox in any spelling. */
function fromSender(from: string): (mailFrom: string) => boolean {
  if (from === '') return (mailFrom) => mailFrom === '';
  const key = mailboxKey(from);
  return (mailFrom) => mailFrom !== '' && mailboxKey(mailFrom) === key;
}

/** The entries of `sel.folder` the selector picks, in the order given (oldest first, by id). */
export function select(entries: readonly ListedEntry[], sel: Selector, busy: ReadonlySet<string>, now = Date.now()): ListedEntry[] {
  const isFrom = sel.from === undefined ? undefined : fromSender(sel.from);
  return entries.filter((e) => sel.states.has(stateOf(e, sel.folder, busy, now))
    && (isFrom === undefined || isFrom(e.mailFrom))
    && (sel.user === undefined || e.user === sel.user)
    && (sel.olderThan === undefined || now - e.receivedAt >= sel.olderThan)
    && (sel.newerThan === undefined || now - e.receivedAt < sel.newerThan)
    && (sel.to === undefined || openIn(e, sel.folder, sel.to)));
}
