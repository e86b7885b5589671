// The recipient dictionaries of `recipient_dictionaries`: which one a message's recipients share, if any. Per-user
// Bayes as SpamAssassin, DSPAM and Rspamd offer it, kept beside the shared dictionary rather than instead of it: what
// one mailbox calls spam another may call ham, and the shared dictionary averages both away.
import path from 'node:path';
import { promises as fsp } from 'node:fs';
import { PluginUnavailableError, type PluginSetup } from '../../core/index.ts';
import { recipientDictionaryName, type BayesConfig } from './config.ts';
import { addressMatcher } from './auto-train.ts';
import { DictionaryInUse } from './dictionary-in-use.ts';

export class RecipientDictionaries {
  private readonly entries: Array<{ matches: (addr: string) => boolean; dictionary: DictionaryInUse }>;

  private constructor(entries: RecipientDictionaries['entries']) {
    this.entries = entries;
  }

  /**
   * Opens every entry's dictionary (a missing file starts empty); one that cannot be read, or that is the shared
   * dictionary's `sharedFile` (each lesson would be counted into it twice), closes the others and throws.
   */
  static async open(cfg: BayesConfig, setup: PluginSetup, sharedFile: string): Promise<RecipientDictionaries> {
    const opened: RecipientDictionaries['entries'] = [];
    try {
      for (const entry of cfg.recipient_dictionaries) {
        const file = path.resolve(setup.configDir, entry.dictionary);
        const label = recipientDictionaryName(entry);
        if (file === sharedFile) throw new PluginUnavailableError(`bayes recipient dictionary ${label} is the shared dictionary ${file}: give it a file of its own`);
        const missing = await fsp.access(file).then(() => false, () => true);
        if (missing) setup.log.info('bayes recipient dictionary starts empty', { dictionary: file, recipients: label, detail: 'the file does not exist yet: it is written at the first flush after a lesson; `moat bayes create` trains it from folders' });
        const dictionary = await DictionaryInUse.open({ file, seed: 'none', namespace: `${cfg.share_namespace}.${label}`, label }, cfg, setup);
        opened.push({ matches: addressMatcher(entry.recipients, cfg.recipient_delimiter), dictionary });
      }
    } catch (e) {
      await Promise.allSettled(opened.map((o) => o.dictionary.close()));
      throw e;
    }
    return new RecipientDictionaries(opened);
  }

  /**
   * The dictionary of every one of `recipients`, when they have the same one: a recipient's is the first entry that
   * matches it. A message for mailboxes of different dictionaries, or for one without, is left to the shared
   * dictionary alone, as it gets one verdict for all its recipients.
   */
  of(recipients: readonly string[]): DictionaryInUse | undefined {
    if (!this.entries.length || !recipients.length) return undefined;
    let found: DictionaryInUse | undefined;
    for (const r of recipients) {
      const d = this.entries.find((e) => e.matches(r))?.dictionary;
      if (!d || (found && d !== found)) return undefined;
      found = d;
    }
    return found;
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.entries.map((e) => e.dictionary.close()));
  }
}
