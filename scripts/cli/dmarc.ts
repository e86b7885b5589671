// `moat dmarc report --now`: has a running gateway build and queue the pending DMARC aggregate reports at once.
import { CONFIG_OPTIONS, readCommand, USAGE_ERROR } from './args.ts';
import { loadConfig } from '../../core/config/load.ts';
import { parseDuration } from '../../core/config/units.ts';
import { pluginOptions, type EntryLike } from '../../core/plugin/loader.ts';
import { validate } from '../../core/config/schema.ts';
import { openStore } from '../../core/store/index.ts';
import type { StateStore } from '../../core/store/types.ts';
import { configSchema } from '../../plugins/dmarc/config.ts';
import { requestReportsNow, type ReportAnswer } from '../../plugins/dmarc/report-request.ts';

const USAGE = `usage: moat dmarc report --now [--config FILE] [--set KEY=VALUE]… [--timeout 60s] [--json]

  report --now     have a running gateway build and queue every pending aggregate report (rua=) now,
                   the current interval's records so far included; the next report of a domain then
                   begins where this one ended

The request goes through the state store the gateways share (state: in the config); the first gateway
whose dmarc plugin has reporting enabled takes it, within 2 s. --timeout is how long to wait for its
answer. Exit code: 0 answered (every report queued or skipped with a reason), 1 failed or no answer,
64 usage or config error.`;

class UsageError extends Error {}

/** Throws, saying why, when this config's gateways would take no report request. */
function reportingEnabled(plugins: readonly EntryLike[]): void {
  const entry = plugins.find((p) => p.name === 'dmarc');
  if (!entry) throw new UsageError('the config has no dmarc plugin entry');
  const { value, issues } = validate(configSchema, pluginOptions(entry));
  if (issues.length) throw new UsageError(`dmarc options: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
  if (!value.reporting.enabled) throw new UsageError('the dmarc plugin\'s reporting is not enabled (reporting: { enabled: true, org_name, email })');
}

const iso = (seconds: number) => new Date(seconds * 1000).toISOString().replace(/\.000Z$/, 'Z');

function printAnswer(a: ReportAnswer): void {
  if (!a.reports.length && !a.failed.length) console.log(`no pending records (answered by ${a.by})`);
  for (const r of a.reports) {
    console.log(`${r.domain}: ${r.messages} messages in ${r.records} records, ${iso(r.begin)} to ${iso(r.end)}, report ${r.reportId}`);
    for (const s of r.sent) console.log(`  queued to ${s.address} as ${s.qid}`);
    for (const s of r.skipped) console.log(`  not sent to ${s.uri}: ${s.why}`);
  }
  for (const f of a.failed) console.log(`${f.domain}: FAILED, tried again at the next interval: ${f.error}`);
}

export async function run(args: string[]): Promise<number> {
  const parsed = readCommand(args, { ...CONFIG_OPTIONS, now: { type: 'boolean' }, timeout: { type: 'string' }, json: { type: 'boolean' } }, USAGE);
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  if (positionals[0] !== 'report' || positionals.length !== 1) { console.error(`${positionals.length ? `unknown command ${positionals.join(' ')}` : 'no command given'}\n\n${USAGE}`); return USAGE_ERROR; }
  if (!values.now) { console.error(`report needs --now: reports are otherwise sent at the end of each interval\n\n${USAGE}`); return USAGE_ERROR; }
  const timeoutMs = values.timeout === undefined ? 60_000 : parseDuration(values.timeout);
  if (!timeoutMs) { console.error(`--timeout: expected a duration such as 60s, got ${values.timeout}`); return USAGE_ERROR; }

  let store: StateStore | undefined;
  try {
    const { config } = await loadConfig({ file: values.config, overrides: values.set ?? [] });
    reportingEnabled(config.plugins as EntryLike[]);
    store = await openStore({ ...config.state, purge_interval: 0 }, config.data_dir);
    const answer = await requestReportsNow(store, timeoutMs);
    if (!answer) {
      console.error(`moat dmarc report: no gateway answered within ${values.timeout ?? '60s'}: is one running with this state store and reporting enabled?`);
      return 1;
    }
    if (values.json) console.log(JSON.stringify(answer, null, 2));
    else printAnswer(answer);
    return answer.failed.length ? 1 : 0;
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code === 'GW_ERR_CONFIG_INVALID') {
      console.error((err as Error).message);
      return USAGE_ERROR;
    }
    console.error(`moat dmarc report: ${(err as Error).message}`);
    return 1;
  } finally {
    await store?.close();
  }
}
