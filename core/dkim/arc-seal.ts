// Seals a queued message as the relay sends it (RFC 8617): an ARC set over the very bytes that go to the next hop, with
// the gateway's results at acceptance as its ARC-Authentication-Results (README.md here says which mail, and why then).
import type { Readable } from 'node:stream';
import type { GatewayConfig } from '../config/gateway-schema.ts';
import type { QueueEntry } from '../queue/entry.ts';
import type { Logger } from '../log/types.ts';
import { prependBytes } from '../relay/outgoing-stream.ts';
import { readSigningKey } from './key-file.ts';
import { signingName } from './keyring.ts';
import { asWritten } from './outgoing.ts';
import { headerEnd, headerSection } from './signature.ts';
import { arcChain, arcFieldNames, createSeal, headerBlock, mailauthParts, parseHeaders, relaxedBodyHasher } from './mailauth-parts.ts';
import { ownResults, presentChain, sealPlan } from './arc-chain.ts';
import type { SealOutcome } from './arc-departures.ts';
import type { SealedClient } from './arc-config.ts';

type ArcConfig = NonNullable<GatewayConfig['dkim']['arc']>;

export interface Seal {
  /** ARC-Seal, ARC-Message-Signature and ARC-Authentication-Results, to go in front of the message; empty when unsealed. */
  fields: Buffer;
  /** What to send after the message: the empty line a message of header fields only lacks, else nothing. */
  after: Buffer;
  outcome: SealOutcome;
}

interface SealingKey { pem: string; domain: string; selector: string }

const NOTHING = Buffer.alloc(0);

/** The kind of client `entry` came from, as `dkim.arc.seal_for` names them. */
function clientOf(entry: QueueEntry): SealedClient {
  if (entry.authenticated) return 'authenticated';
  return entry.relayNetwork ? 'relay_networks' : 'inbound';
}

export class ArcSealer {
  private readonly cfg: ArcConfig;
  private readonly key?: SealingKey;

  /** Reads the key now: built with the relay at start and at each reload, once the config check has parsed it. */
  constructor(cfg: ArcConfig, log?: Logger) {
    this.cfg = cfg;
    try {
      const { key } = readSigningKey(cfg.key_file);
      // mailauth's sealer reads the key from PEM itself.
      this.key = { pem: key.export({ type: 'pkcs8', format: 'pem' }) as string, domain: signingName(cfg.domain), selector: cfg.selector };
      mailauthParts();
    } catch (e) {
      log?.error('ARC key not loaded: mail to be sealed leaves unsealed', { arc: signingName(cfg.domain), error: (e as Error).message });
    }
  }

  /**
   * Whether `entry` is mail this config seals: mail the gateway judged (it has a verdict) from a client `seal_for`
   * names. Never the gateway's own mail (delivery notices, rule notices, digests, DMARC reports), which has no results
   * of the gateway's to carry and would only be counted as unsealed.
   */
  wants(entry: QueueEntry): boolean {
    return !entry.dsn && entry.verdict !== undefined && this.cfg.seal_for.includes(clientOf(entry));
  }

  /**
   * The ARC set for `message`, the bytes about to leave. Never throws: a message that cannot be sealed goes as it is.
   * `t=` is the time the message was received and RSA signatures are deterministic, so a retry sends the same set.
   */
  async seal(entry: QueueEntry, message: () => Readable): Promise<Seal> {
    const key = this.key;
    if (!key) return unsealed('key_unreadable', 'its key could not be read at the last start or reload');
    try {
      const hasher = relaxedBodyHasher();
      const { section, ended } = await headerSection(asWritten(message()), (chunk) => hasher.update(chunk));
      const headers = headerBlock(section);
      const plan = sealPlan(presentChain(headers.parsed), ownResults(parseHeaders(prependBytes(entry.prepend))));
      if ('unsealed' in plan) return unsealed(plan.unsealed, plan.why);
      // A passing chain is sealed whole; after a failing one the seal covers the new set alone (mailauth's rule too).
      const chain = plan.cv === 'pass' ? arcChain(headers) : false;
      const made = await createSeal(false, {
        headers, arc: { chain },
        seal: {
          i: plan.i, cv: plan.cv, authResults: plan.authResults, signingDomain: key.domain, selector: key.selector, privateKey: key.pem,
          algorithm: 'rsa-sha256', bodyHash: hasher.digest('base64'), signTime: new Date(entry.receivedAt), headerList: arcFieldNames(),
        },
      });
      // mailauth's signer records a failure and goes on; a set without one of its fields would fail at the receiver.
      if (made.headers.length !== 3 || made.headers.some((f) => typeof f !== 'string' || !f)) throw new Error('the ARC set came out incomplete');
      return {
        fields: Buffer.from(`${made.headers.join('\r\n')}\r\n`, 'latin1'), after: Buffer.from(headerEnd(section, ended), 'latin1'),
        outcome: { domain: key.domain, selector: key.selector, i: plan.i, cv: plan.cv },
      };
    } catch (e) {
      return unsealed('sealing_error', `sealing failed: ${String((e as Error)?.message ?? e)}`);
    }
  }
}

const unsealed = (reason: Extract<SealOutcome, { unsealed: unknown }>['unsealed'], why: string): Seal => ({ fields: NOTHING, after: NOTHING, outcome: { unsealed: reason, why } });
