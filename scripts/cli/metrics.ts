// `moat metrics`: counters of the running gateway (connections, messages by verdict, DATA latency, queue, DNS), as text, JSON or Prometheus.
import { ConfigError, loadConfig } from '../../core/config/load.ts';
import { controlRequest, NoGatewayError } from '../../core/control/client.ts';
import { socketPath } from '../../core/control/protocol.ts';
import { CONFIG_OPTIONS, readCommand } from './args.ts';
import { inBoundOrder, isHistogram, prometheusText } from '../../core/metrics.ts';

/** An object's entries as they are to be shown: a histogram's buckets by bound, not with "1" and "5" before "0.005". */
function entriesOf(key: string, v: object, parent: unknown): Array<[string, unknown]> {
  return key === 'buckets' && isHistogram(parent) ? inBoundOrder(v as Record<string, unknown>) : Object.entries(v);
}

function flatten(prefix: string, v: unknown, out: Array<[string, number]>, key = '', parent?: unknown): void {
  if (typeof v === 'number') out.push([prefix, v]);
  else if (v && typeof v === 'object') for (const [k, x] of entriesOf(key, v, parent)) flatten(prefix ? `${prefix}_${k}` : k, x, out, k, v);
}

/** JSON.stringify, with each histogram's buckets in the order of their bounds (JSON.stringify would put integer keys first). */
function orderedJson(v: unknown, key = '', parent?: unknown): string {
  if (Array.isArray(v)) return `[${v.map((x) => orderedJson(x)).join(',')}]`;
  if (!v || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  return `{${entriesOf(key, v, parent).map(([k, x]) => `${JSON.stringify(k)}:${orderedJson(x, k, v)}`).join(',')}}`;
}

export async function run(argv: string[]): Promise<number> {
  const usage = 'usage: moat metrics [--config FILE] [--set KEY=VALUE]… [--json | --prometheus]';
  const parsed = readCommand(argv, { ...CONFIG_OPTIONS, json: { type: 'boolean' }, prometheus: { type: 'boolean' } }, usage);
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  let config;
  try {
    // The same config options as `moat start`: the control socket is under the data_dir the gateway was started with.
    ({ config } = await loadConfig({ file: values.config, overrides: values.set ?? [] }));
  } catch (e) {
    if (e instanceof ConfigError) { process.stderr.write(`${e.message}\n`); return 1; }
    throw e;
  }
  let m: unknown;
  try {
    m = await controlRequest(socketPath(config.data_dir), { op: 'metrics' }, 10_000);
  } catch (e) {
    if (e instanceof NoGatewayError) { process.stderr.write(`no gateway is running on ${config.data_dir}\n`); return 1; }
    throw e;
  }
  if (values.json) { process.stdout.write(orderedJson(m) + '\n'); return 0; }
  if (values.prometheus) { process.stdout.write(prometheusText((m ?? {}) as Record<string, unknown>)); return 0; }
  const rows: Array<[string, number]> = [];
  flatten('', m, rows);
  process.stdout.write(rows.map(([k, v]) => `${k.padEnd(32)} ${v}`).join('\n') + '\n');
  return 0;
}
