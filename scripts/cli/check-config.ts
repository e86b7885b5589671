// `moat check-config`: validates the config file (and every plugin's options); exit 0, or 1 listing every error.
import { loadConfig, ConfigError } from '../../core/config/load.ts';
import { loadTls } from '../../core/smtp/tls.ts';
import { readCommand } from './args.ts';

const USAGE = 'usage: moat check-config [--config FILE] [--set KEY=VALUE]…';

export async function run(argv: string[]): Promise<number> {
  const parsed = readCommand(argv, { config: { type: 'string', short: 'c' }, set: { type: 'string', multiple: true } }, USAGE);
  if (typeof parsed === 'number') return parsed;
  try {
    const { file, config } = await loadConfig({ file: parsed.values.config, overrides: parsed.values.set ?? [] });
    const { cert, key } = config.server.tls;
    if (cert || key) {
      // The pair the gateway would refuse at start: one without the other, unreadable, not matching.
      try {
        const tls = loadTls({ cert, key, dataDir: config.data_dir, hostname: 'localhost' });
        if (tls.expires.getTime() < Date.now()) process.stderr.write(`warning: server.tls.cert ${cert} expired on ${tls.expires.toISOString()}\n`);
      } catch (e) {
        // loadTls names the key (server.tls, server.tls.key…) in its message.
        process.stderr.write(`${file ?? 'config'}: 1 error(s)\n  ${(e as Error).message}\n`);
        return 1;
      }
    }
    process.stdout.write(`${file ?? 'embedded default config'}: OK\n`);
    return 0;
  } catch (e) {
    if (e instanceof ConfigError) { process.stderr.write(`${e.message}\n`); return 1; }
    throw e;
  }
}
