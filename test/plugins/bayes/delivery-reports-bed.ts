// What the delivery-report tests share: a real gateway scoring with the shipped dictionary, that dictionary loaded
// alone to score a message as the gateway would whole, and readers of a relayed message's headers.
import assert from 'node:assert/strict';
import path from 'node:path';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { loadDictionary } from '../../../plugins/bayes/engine/persist.ts';
import { BayesFilter } from '../../../plugins/bayes/engine/filter.ts';
import { fromOutside } from './gateway-beds.ts';

const SHIPPED = path.resolve(import.meta.dirname, '../../../dictionaries/default.tab');

/** One header field's value of a relayed message (its first). */
export function field(raw: string, name: string): string | undefined {
  const head = raw.split('\r\n\r\n')[0].replace(/\r\n[ \t]+/g, ' ');
  return head.split('\r\n').find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}: `))?.slice(name.length + 2);
}

/** The symbols of the relayed message's verdict, as `NAME(score)`. */
export function symbolsOf(raw: string): string[] {
  const verdict = field(raw, 'X-Mailmoat-Verdict') ?? '';
  return /symbols=(.*)$/.exec(verdict)?.[1].split(' ').filter(Boolean) ?? [];
}

export interface ShippedBed { gw: RelayingGateway; shipped: BayesFilter }

/**
 * Starts, in the calling describe's before hook, a gateway with the bayes plugin seeded from the shipped dictionary
 * (copied into its data_dir), and stops it after; the returned object is filled in once the hook has run.
 */
export function withShippedGateway(): ShippedBed {
  const bed = {} as ShippedBed;
  before(async () => {
    bed.shipped = new BayesFilter(await loadDictionary(SHIPPED));
    bed.gw = await startRelayingGateway({ config: { plugins: [{ name: 'bayes' }] } });
  });
  after(async () => { await bed.gw?.stop(); });
  return bed;
}

/**
 * Sends `raw` from the null sender, as the MTA `name` (by its HELO), to alice through the bed's gateway: the copy the
 * smarthost got (found by `tag`) and the symbols of its verdict.
 */
export async function relayedReport(bed: ShippedBed, raw: string, tag: string, name = 'mx.partner.test'): Promise<{ relayed: string; symbols: string[] }> {
  const reply = await fromOutside(bed.gw.port, raw, ['alice@example.com'], { from: '', name });
  assert.equal(reply.code, 250);
  const relayed = await bed.gw.sink.waitForText(tag);
  return { relayed, symbols: symbolsOf(relayed) };
}
