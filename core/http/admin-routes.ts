// The admin routes: Prometheus metrics and the health checks load balancers, systemd and Kubernetes probe.
import { PROMETHEUS_CONTENT_TYPE, prometheusText } from '../metrics.ts';
import { readinessAnswer, type CheckReport } from './readiness.ts';
import type { HttpResponse, Route } from './types.ts';

export interface AdminState {
  /** What `moat metrics --json` shows: the live counters and gauges. */
  metrics(): Record<string, unknown>;
  /** Why the gateway cannot take mail now (starting, stopping, a listener closed, its disk full), or undefined when it can. */
  notReadyBecause(): Promise<string | undefined>;
  /** The dependency checks (clamd, Redis), kept a moment between rounds (readiness.ts); none when absent. */
  dependencies?(): Promise<CheckReport[]>;
}

const json = (status: number, value: unknown): HttpResponse =>
  ({ status, headers: { 'content-type': 'application/json' }, body: `${JSON.stringify(value)}\n` });

export function adminRoutes(state: AdminState): Route[] {
  return [
    {
      method: 'GET', path: '/metrics',
      handle: async () => ({ status: 200, headers: { 'content-type': PROMETHEUS_CONTENT_TYPE }, body: prometheusText(state.metrics()) }),
    },
    // Answered while the process can answer at all: a restart is the cure only for a process that cannot.
    { method: 'GET', path: '/health/live', handle: async () => json(200, { status: 'ok' }) },
    {
      method: 'GET', path: '/health/ready',
      handle: async () => {
        const reason = await state.notReadyBecause();
        // Not asked while the gateway takes no mail anyway: a stop closes what they would ask.
        const checks = reason === undefined ? await state.dependencies?.() ?? [] : [];
        const answer = readinessAnswer(reason, checks);
        return json(answer.status, answer.body);
      },
    },
  ];
}
