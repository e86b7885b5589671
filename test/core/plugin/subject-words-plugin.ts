// The worked example of core/plugin/README.md, kept where a test runs it (subject-words.test.ts): a plugin that scores
// a Subject holding a word of a list file, and reads the file again when it changes. A real plugin would keep its
// schema in config.ts and its notes in README.md beside index.ts, with its tests under test/plugins/<name>/.
import { watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { definePlugin, PluginUnavailableError, s, type Infer } from '../../../core/index.ts';

export const configSchema = s.object({
  file: s.string().describe('The word list, one word per line, `#` starts a comment; relative to the config file'),
  score: s.number().default(3).describe('Score of a SUBJECT_WORD finding'),
  reload_delay: s.duration({ max: 60_000 }).default(200).describe('How long the file must stay unchanged before it is read again'),
});

type Config = Infer<typeof configSchema>;

async function readWords(file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8');
  return text.split('\n').map((l) => l.replace(/#.*/, '').trim().toLowerCase()).filter((l) => l !== '');
}

export default definePlugin({
  name: 'subject-words',
  description: 'Scores a Subject that holds a word of a list file',
  configSchema,
  symbols: { SUBJECT_WORD: 'the Subject holds a word of the list' },
  async create(cfg: Config, setup) {
    const file = path.resolve(setup.configDir, cfg.file);
    let words: string[];
    try {
      words = await readWords(file);
    } catch (e) {
      throw new PluginUnavailableError(`cannot read ${file}: ${(e as Error).message}`);
    }
    let quiet: NodeJS.Timeout | undefined;
    // The folder, not the file: an editor that saves by renaming a new file over the old one leaves a watch on the
    // file looking at a file that is gone. The delay lets a write in several steps finish before it is read.
    const watcher = watch(path.dirname(file), (_event, name) => {
      if (name !== path.basename(file)) return;
      clearTimeout(quiet);
      quiet = setTimeout(() => {
        readWords(file).then(
          (next) => { words = next; setup.log.info('word list read again', { file, words: next.length }); },
          (e: Error) => setup.log.warn('word list not read again: the one read last stays in use', { file, error: e.message }),
        );
      }, cfg.reload_delay);
    });
    return {
      hooks: {
        async data(ctx) {
          const subject = (ctx.message!.headers.first('Subject') ?? '').toLowerCase();
          const word = words.find((w) => subject.includes(w));
          if (word === undefined) return;
          ctx.addFinding('SUBJECT_WORD', cfg.score, word);
          ctx.log.info('listed word in the Subject', { word });
          if (!ctx.session.check) setup.metrics?.inc('hits');
        },
      },
      // A reload creates a new instance and closes this one: a watch left open would keep reading for nobody.
      close() {
        clearTimeout(quiet);
        watcher.close();
      },
    };
  },
});
