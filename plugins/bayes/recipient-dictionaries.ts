// The recipient dictionaries of `recipient_dictionaries`: which one a message's recipients share, if any. Per-user
// Bayes as SpamAssassin, DSPAM and Rspamd offer it, kept beside the shared dictionary rather than instead of it: what
// one mailbox calls spam another may call ham, and the shared dictionary averages both away.
import path from 'node:path';
import { promises as fsp } from 'node:fs';
import type { PluginSetup } from '../../core/index.ts';
import { recipientDictionaryName, type BayesConfig } from './config.ts';
import { addressMatcher } from './auto-train.ts';
import { DictionaryInUse } from './dictionary-in-use.ts';

export class RecipientDictionaries {
  private readonly entries: Array<{ matches: (addr: string) => boolean; dictionary: DictionaryInUse }>;

  private constructor(entries: RecipientDictionaries['entries']) {
    this.entries = entries;
  }

  /**
   * Opens every entry's dictionary (a missing file starts empty). One that cannot be used (unreadable, or the shared
   * dictionary's `sharedFile`, into which each lesson would be counted twice) is left out with an error in the log:
   * its recipients are scored by the shared dictionary alone, as everyone else is, rather than the whole filter
   * going off over one team's file.
   */
  static async open(cfg: BayesConfig, setup: PluginSetup, sharedFile: string): Promise<RecipientDictionaries> {
    const opened: RecipientDictionaries['entries'] = [];
    for (const entry of cfg.recipient_dictionaries) {
      const file = path.resolve(setup.configDir, entry.dictionary);
      const label = recipientDictionaryName(entry);
      const leftOut = (reason: string) => setup.log.error('bayes recipient dictionary left out: its recipients are scored by the shared dictionary alone', { dictionary: file, recipients: label, reason });
      if (file === sharedFile) { leftOut('it is the shared dictionary\'s file: give it a file of its own'); continue; }
      const missing = await fsp.access(file).then(() => false, () => true);
      if (missing) setup.log.info('bayes recipient dictionary starts empty', { dictionary: file, recipients: label, detail: 'the file does not exist yet: it is written at the first flush after a lesson; `moat bayes create` trains it from folders' });
      try {
        const dictionary = await DictionaryInUse.open({ file, seed: 'none', namespace: `${cfg.share_namespace}.${label}`, label }, cfg, setup);
        opened.push({ matches: addressMatcher(entry.recipients, cfg.recipient_delimiter), dictionary });
      } catch (e) {
        leftOut(String((e as Error)?.message ?? e));
      }
    }
    return new RecipientDictionaries(opened);
  }

  /**
   * The dictionary of every one of `recipients`, when they have the same one: a recipient's is the first entry that
   * matches it. A message for mailboxes of different dictionaries, or for some without one, is left to the shared
   * dictionary alone, as it gets one verdict for all its recipients: `mixed` says so (the finding's detail does);
   * undefined when no recipient has one.
   */
  of(recipients: readonly string[]): DictionaryInUse | 'mixed' | undefined {
    if (!this.entries.length || !recipients.length) return undefined;
    const each = recipients.map((r) => this.entries.find((e) => e.matches(r))?.dictionary);
    if (each.every((d) => d === undefined)) return undefined;
    return each.every((d) => d === each[0]) ? each[0] : 'mixed';
  }

  /** Whether there are any. */
  get any(): boolean { return this.entries.length > 0; }

  /** One recipient's dictionary (the first entry that matches it), or undefined when it has none. */
  ofOne(recipient: string): DictionaryInUse | undefined {
    return this.entries.find((e) => e.matches(recipient))?.dictionary;
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.entries.map((e) => e.dictionary.close()));
  }
}
