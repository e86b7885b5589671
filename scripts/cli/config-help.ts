// `moat config-help`: prints every config key with its type, default and meaning, from the schema itself.
import { documentSchema } from '../../core/config/schema.ts';
import { gatewaySchema } from '../../core/config/gateway-schema.ts';

export async function run(): Promise<number> {
  process.stdout.write('| key | expected | default | meaning |\n|---|---|---|---|\n');
  process.stdout.write(documentSchema(gatewaySchema).join('\n') + '\n');
  return 0;
}
