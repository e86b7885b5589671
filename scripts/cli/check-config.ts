// `moat check-config`: validates the config file (and every plugin's options); exit 0, or 1 listing every error.
import { loadConfig, ConfigError } from '../../core/config/load.ts';
import { readCommand } from './args.ts';

const USAGE = 'usage: moat check-config [--config FILE] [--set KEY=VALUE]…';

export async function run(argv: string[]): Promise<number> {
  const parsed = readCommand(argv, { config: { type: 'string', short: 'c' }, set: { type: 'string', multiple: true } }, USAGE);
  if (typeof parsed === 'number') return parsed;
  try {
    const { file } = await loadConfig({ file: parsed.values.config, overrides: parsed.values.set ?? [] });
    process.stdout.write(`${file ?? 'embedded default config'}: OK\n`);
    return 0;
  } catch (e) {
    if (e instanceof ConfigError) { process.stderr.write(`${e.message}\n`); return 1; }
    throw e;
  }
}
