// The admin routes: Prometheus metrics and the health checks load balancers, systemd and Kubernetes probe.
import { PROMETHEUS_CONTENT_TYPE, prometheusText } from '../metrics.ts';
import type { HttpResponse, Route } from './types.ts';

export interface AdminState {
  /** What `moat metrics --json` shows: the live counters and gauges. */
  metrics(): Record<string, unknown>;
  /** Why the gateway cannot take mail now (starting, stopping, a listener closed, its disk full), or undefined when it can. */
  notReadyBecause(): Promise<string | undefined>;
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
        return reason === undefined ? json(200, { status: 'ok' }) : json(503, { status: 'unavailable', reason });
      },
    },
  ];
}
