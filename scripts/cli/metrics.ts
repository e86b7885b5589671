// `moat metrics`: counters of the running gateway (connections, messages by verdict, DATA latency, queue, DNS), as text, JSON or Prometheus.
import { ConfigError, loadConfig } from '../../core/config/load.ts';
import { controlRequest, NoGatewayError } from '../../core/control/client.ts';
import { socketPath } from '../../core/control/protocol.ts';
import { CONFIG_OPTIONS, readCommand } from './args.ts';
import { prometheusText } from '../../core/metrics.ts';

function flatten(prefix: string, v: unknown, out: Array<[string, number]>): void {
  if (typeof v === 'number') out.push([prefix, v]);
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) flatten(prefix ? `${prefix}_${k}` : k, x, out);
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
  if (values.json) { process.stdout.write(JSON.stringify(m) + '\n'); return 0; }
  if (values.prometheus) { process.stdout.write(prometheusText((m ?? {}) as Record<string, unknown>)); return 0; }
  const rows: Array<[string, number]> = [];
  flatten('', m, rows);
  process.stdout.write(rows.map(([k, v]) => `${k.padEnd(32)} ${v}`).join('\n') + '\n');
  return 0;
}
