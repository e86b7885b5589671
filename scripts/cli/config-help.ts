// `moat config-help [PLUGIN]`: prints every config key with its type, default and meaning, from the schema itself;
// with a plugin's name (or its module's path), that plugin's options and the symbols its findings use.
import path from 'node:path';
import { documentSchema } from '../../core/config/schema.ts';
import { gatewaySchema } from '../../core/config/gateway-schema.ts';
import { importPlugin } from '../../core/plugin/loader.ts';
import { readCommand, USAGE_ERROR } from './args.ts';

const USAGE = `usage: moat config-help [PLUGIN]
  Prints every config key with its type, default and meaning. With PLUGIN (a name under plugins/, such as rules, or
  the path of a plugin module), prints that plugin's options (the keys of its plugins entry) and its symbols.`;

const TABLE_HEAD = '| key | expected | default | meaning |\n|---|---|---|---|\n';

async function pluginHelp(which: string): Promise<number> {
  const isFile = /\.(ts|js|mjs)$/.test(which) || which.includes('/');
  let def;
  try {
    def = await importPlugin({ name: isFile ? path.basename(which).replace(/\.\w+$/, '') : which, ...(isFile ? { module: path.resolve(which) } : {}), required: false, timeout: 0 });
  } catch (e) {
    console.error(`moat config-help: ${(e as Error).message}`);
    return 1;
  }
  const out = [`# ${def.name}: ${def.description}`, '', 'Options (beside name, module, required and timeout, which every entry takes):', ''];
  const rows = documentSchema(def.configSchema);
  out.push(rows.length ? TABLE_HEAD + rows.join('\n') : '(none)');
  if (def.symbols && Object.keys(def.symbols).length) {
    out.push('', 'Symbols its findings use:', '', '| symbol | meaning |', '|---|---|');
    for (const [sym, meaning] of Object.entries(def.symbols)) out.push(`| \`${sym}\` | ${meaning.replace(/\|/g, '\\|')} |`);
  }
  process.stdout.write(out.join('\n') + '\n');
  return 0;
}

export async function run(argv: string[] = []): Promise<number> {
  const parsed = readCommand(argv, {}, USAGE);
  if (typeof parsed === 'number') return parsed;
  if (parsed.positionals.length > 1) { console.error(`unexpected argument "${parsed.positionals[1]}"\n\n${USAGE}`); return USAGE_ERROR; }
  if (parsed.positionals.length === 1) return pluginHelp(parsed.positionals[0]);
  process.stdout.write(TABLE_HEAD);
  process.stdout.write(documentSchema(gatewaySchema).join('\n') + '\n');
  return 0;
}
