// GET /metrics of a test gateway's admin listener, as Prometheus scrapes it: the text, and each sample by its name
// with its labels (`mailmoat_deferred_total{reason="tls"}`).
import assert from 'node:assert/strict';
import type { TestGateway } from '../helpers/gateway.ts';

export interface Scrape { text: string; samples: Map<string, number> }

export async function scrapeMetrics(gw: TestGateway): Promise<Scrape> {
  const res = await fetch(`http://127.0.0.1:${gw.gateway.admin!.addresses[0].port}/metrics`);
  assert.equal(res.status, 200);
  const text = await res.text();
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m) samples.set(m[1], Number(m[2]));
  }
  return { text, samples };
}
