// `moat lists show|allow|block|remove`: a recipient's own sender allow and block lists, in the gateway's state store.
import { CONFIG_OPTIONS, readCommand, USAGE_ERROR } from './args.ts';
import { asciiDomain } from '../../core/text/ascii.ts';
import { loadConfig } from '../../core/config/load.ts';
import { validate } from '../../core/config/schema.ts';
import { pluginOptions, type EntryLike } from '../../core/plugin/loader.ts';
import { openStore } from '../../core/store/index.ts';
import type { StateStore } from '../../core/store/types.ts';
import { LIST_KINDS, listEntry, listOwner, listsOf, MAX_ENTRIES, putOnList, removeEntry, type ListKind } from '../../core/lists/user-lists.ts';
import { configSchema } from '../../plugins/user-lists/config.ts';

const USAGE = `usage: moat lists <command> [--config FILE] [--set KEY=VALUE]… [--json]

  show RECIPIENT                      the recipient's allow and block lists
  allow RECIPIENT ENTRY               add ENTRY to the recipient's allow list
  block RECIPIENT ENTRY               add ENTRY to the recipient's block list
  remove allow|block RECIPIENT ENTRY  remove ENTRY from that list

ENTRY is an address (alice@example.org), a domain (@example.org) or a domain with its
subdomains (@.example.org). A tagged RECIPIENT (bob+news@example.com) stands for its
untagged address, as the user-lists plugin reads it (its recipient_delimiter).
The store is the one the gateway uses (state: in the config). A list holds at most ${MAX_ENTRIES} entries.
Exit code: 0 done, 1 failed (also: the entry was not listed, the list is full), 64 usage or config error.`;

class UsageError extends Error {}

/** The user-lists entry's recipient delimiter (the plugin's default when the config has no entry). */
function delimiterOf(plugins: readonly EntryLike[]): string {
  const entry = plugins.find((p) => p.name === 'user-lists');
  const { value, issues } = validate(configSchema, entry ? pluginOptions(entry) : {});
  if (issues.length) throw new UsageError(`user-lists options: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
  return value.recipient_delimiter;
}

/** The recipient whose lists are meant: an address with a local part and a domain, its tag taken off. */
function recipientOf(arg: string | undefined, delimiter: string): string {
  const a = (arg ?? '').trim().toLowerCase();
  const at = a.lastIndexOf('@');
  // Any domain the gateway takes mail for, `localhost` included, so not listEntry's test of a sender's domain.
  const domain = at > 0 ? asciiDomain(a.slice(at + 1)) : '';
  if (!domain || /[\s<>@]/.test(domain) || /[\s<>]/.test(a.slice(0, at))) throw new UsageError(`not a recipient address: ${arg ?? '(missing)'}`);
  return listOwner(`${a.slice(0, at)}@${domain}`, delimiter);
}

function entryOf(arg: string | undefined): string {
  const kept = arg === undefined ? null : listEntry(arg);
  if (!kept) throw new UsageError(`not a list entry: ${arg ?? '(missing)'} (give alice@example.org, @example.org or @.example.org)`);
  return kept;
}

/** What the command line asks for, checked before the store is opened. */
function planOf(command: string, rest: string[]): { kind?: ListKind; args: string[] } {
  if (command === 'show') {
    if (rest.length !== 1) throw new UsageError('show takes one RECIPIENT');
    return { args: rest };
  }
  if (command === 'allow' || command === 'block') {
    if (rest.length !== 2) throw new UsageError(`${command} takes a RECIPIENT and an ENTRY`);
    return { kind: command, args: rest };
  }
  const [kind, ...args] = rest;
  if (!LIST_KINDS.includes(kind as ListKind) || args.length !== 2) throw new UsageError('remove takes allow or block, a RECIPIENT and an ENTRY');
  return { kind: kind as ListKind, args };
}

export async function run(argv: string[]): Promise<number> {
  const parsed = readCommand(argv, { ...CONFIG_OPTIONS, json: { type: 'boolean' } }, USAGE);
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (!command) { console.error(USAGE); return USAGE_ERROR; }
  if (!['show', 'allow', 'block', 'remove'].includes(command)) { console.error(`unknown command ${command}\n\n${USAGE}`); return USAGE_ERROR; }

  let store: StateStore | undefined;
  try {
    const plan = planOf(command, rest);
    const { config } = await loadConfig({ file: values.config, overrides: values.set ?? [] });
    const recipient = recipientOf(plan.args[0], delimiterOf(config.plugins as EntryLike[]));
    const entry = plan.kind ? entryOf(plan.args[1]) : '';
    store = await openStore({ ...config.state, purge_interval: 0 }, config.data_dir);
    // Said on stderr, so --json stays one line: lists nothing reads, or kept for an address the gateway takes no mail for.
    if (!config.plugins.some((p) => p.name === 'user-lists')) console.error('note: the config has no user-lists plugin: these lists are kept but not applied to mail');
    const domain = recipient.slice(recipient.lastIndexOf('@') + 1);
    if (!config.domains.some((d) => asciiDomain(d.toLowerCase()) === domain)) console.error(`note: ${domain} is not one of the config's domains: the gateway takes no mail for ${recipient}, so its lists never apply`);

    if (command === 'show') {
      const lists = await listsOf(store, recipient);
      if (values.json) console.log(JSON.stringify({ recipient, ...lists }));
      else {
        console.log(`recipient ${recipient}`);
        for (const k of LIST_KINDS) console.log(`${k}: ${lists[k].length ? lists[k].join(' ') : '(empty)'}`);
      }
      return 0;
    }

    const kind = plan.kind!;
    if (command === 'remove') {
      const removed = await removeEntry(store, kind, recipient, entry);
      if (values.json) console.log(JSON.stringify({ recipient, list: kind, entry, result: removed ? 'removed' : 'not listed' }));
      else if (removed) console.log(`removed ${entry} from the ${kind} list of ${recipient}`);
      else console.error(`${entry} is not on the ${kind} list of ${recipient}`);
      return removed ? 0 : 1;
    }

    const { added: result, movedFrom } = await putOnList(store, kind, recipient, entry);
    if (values.json) console.log(JSON.stringify({ recipient, list: kind, entry, result, ...(movedFrom ? { removed_from: movedFrom } : {}) }));
    else if (result === 'list full') console.error(`the ${kind} list of ${recipient} is full (${MAX_ENTRIES} entries): remove one first`);
    else {
      console.log(result === 'added' ? `added ${entry} to the ${kind} list of ${recipient}` : `${entry} is already on the ${kind} list of ${recipient}`);
      // As the quarantine page does: the latest wish wins, and a sender is never on both lists.
      if (movedFrom) console.log(`removed ${entry} from the ${movedFrom} list of ${recipient}`);
    }
    return result === 'list full' ? 1 : 0;
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code === 'GW_ERR_CONFIG_INVALID') {
      console.error(`${(err as Error).message}\n\n${USAGE}`);
      return USAGE_ERROR;
    }
    console.error(`moat lists ${command}: ${(err as Error).message}`);
    return 1;
  } finally {
    await store?.close();
  }
}
