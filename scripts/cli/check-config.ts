// `moat check-config`: validates the config file (and every plugin's options); exit 0, or 1 listing every error.
import { loadConfig, ConfigError } from '../../core/config/load.ts';
import { parseArgs, flag, flags } from './args.ts';

export async function run(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  try {
    const { file } = await loadConfig({ file: flag(args, 'config'), overrides: flags(args, 'set') });
    process.stdout.write(`${file ?? 'embedded default config'}: OK\n`);
    return 0;
  } catch (e) {
    if (e instanceof ConfigError) { process.stderr.write(`${e.message}\n`); return 1; }
    throw e;
  }
}
