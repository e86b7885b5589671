// Relays queued mail to the smarthost over a pool of SMTP connections (nodemailer), honouring per-recipient replies.
import nodemailer from 'nodemailer';
import type { Readable } from 'node:stream';
import type { QueueEntry } from '../queue/entry.ts';
import type { RecipientResult, Relay } from './types.ts';
import type { SmarthostTarget } from './smarthost.ts';

interface SmtpError extends Error { responseCode?: number; response?: string; code?: string; rejected?: string[]; rejectedErrors?: SmtpError[]; recipient?: string }

/** Errors that end a transaction before the server answered the envelope. */
const HOST_FAILURES = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EPROTOCOL', 'ETLS', 'EREQUIRETLS', 'EAUTH', 'ENOAUTH', 'EDNS', 'EPROXY']);

function replyOf(err: SmtpError): string {
  return err.response ?? `${err.code ?? 'ERROR'} ${err.message}`;
}

export class SmtpRelay implements Relay {
  readonly name: string;
  private readonly transport: ReturnType<typeof nodemailer.createTransport>;

  constructor(target: SmarthostTarget, heloName: string) {
    this.name = target.display;
    this.transport = nodemailer.createTransport({
      pool: true,
      host: target.host,
      port: target.port,
      secure: target.secure,
      requireTLS: target.starttls === 'required',
      ignoreTLS: target.starttls === 'off',
      opportunisticTLS: target.starttls === 'opportunistic',
      auth: target.user ? { user: target.user, pass: target.pass ?? '' } : undefined,
      maxConnections: target.connections,
      maxMessages: Infinity,
      name: heloName,
      connectionTimeout: target.timeout,
      greetingTimeout: target.timeout,
      socketTimeout: target.timeout,
      tls: { rejectUnauthorized: target.tlsVerify, ...(target.servername ? { servername: target.servername } : {}) },
      disableFileAccess: true,
      disableUrlAccess: true,
      logger: false,
    } as Parameters<typeof nodemailer.createTransport>[0]);
  }

  async send(entry: QueueEntry, recipients: string[], message: () => Readable): Promise<RecipientResult[]> {
    try {
      const info = await this.transport.sendMail({ envelope: { from: entry.mailFrom || '', to: recipients }, raw: message() } as unknown as Parameters<typeof this.transport.sendMail>[0]);
      const errors = new Map<string, SmtpError>();
      for (const e of ((info as { rejectedErrors?: SmtpError[] }).rejectedErrors ?? [])) if (e.recipient) errors.set(e.recipient, e);
      const accepted = new Set((info.accepted as string[]).map(String));
      return recipients.map((address) => {
        if (accepted.has(address)) return { address, ok: true, permanent: false, reply: info.response };
        const e = errors.get(address);
        const code = e?.responseCode ?? 450;
        return { address, ok: false, permanent: code >= 500, reply: e ? replyOf(e) : 'rejected' };
      });
    } catch (err) {
      const e = err as SmtpError;
      const perRcpt = new Map<string, SmtpError>();
      for (const r of e.rejectedErrors ?? []) if (r.recipient) perRcpt.set(r.recipient, r);
      return recipients.map((address) => {
        const r = perRcpt.get(address) ?? e;
        const code = r.responseCode ?? 0;
        const hostFailure = r === e && HOST_FAILURES.has(e.code ?? '');
        return { address, ok: false, permanent: code >= 500 && code < 600 && !hostFailure, reply: replyOf(r), hostFailure };
      });
    }
  }

  async close(): Promise<void> { this.transport.close(); }
}
