// `moat config-help`: prints every config key with its type, default and meaning, from the schema itself.
import { documentSchema } from '../../core/config/schema.ts';
import { gatewaySchema } from '../../core/config/gateway-schema.ts';
import { readCommand, USAGE_ERROR } from './args.ts';

const USAGE = 'usage: moat config-help   prints every config key with its type, default and meaning';

export async function run(argv: string[] = []): Promise<number> {
  const parsed = readCommand(argv, {}, USAGE);
  if (typeof parsed === 'number') return parsed;
  if (parsed.positionals.length) { console.error(`unexpected argument "${parsed.positionals[0]}"\n\n${USAGE}`); return USAGE_ERROR; }
  process.stdout.write('| key | expected | default | meaning |\n|---|---|---|---|\n');
  process.stdout.write(documentSchema(gatewaySchema).join('\n') + '\n');
  return 0;
}
