// How long the relay waits at each step of a session, as RFC 5321 §4.5.3.2 sets a client's timeouts and Postfix's
// smtp_*_timeout follow them. One time for every reply (60 s before) gave up on next hops within their rights: one
// that took 75 s to answer RCPT (a callout, a greylisting lookup) was dropped at every retry until the message bounced.

/** A step the relay waits at; `body` is each write of the message (a data block), `connect` the TCP connection. */
export type Stage = 'connect' | 'greeting' | 'helo' | 'starttls' | 'auth' | 'mail' | 'rcpt' | 'rset' | 'data' | 'body';

/** The RFC's minimums, with Postfix's values for what the RFC leaves open (connect, STARTTLS, AUTH, RSET). */
export const STAGE_TIMEOUTS_MS: Readonly<Record<Stage, number>> = {
  connect: 30_000, // smtp_connect_timeout: a host that does not answer at all is not waited for long
  greeting: 300_000, // §4.5.3.2.1, the initial 220
  helo: 300_000, // smtp_helo_timeout
  starttls: 300_000, // smtp_starttls_timeout, the reply and the handshake
  auth: 300_000, // no time of its own in the RFC: as long as for a command
  mail: 300_000, // §4.5.3.2.2
  rcpt: 300_000, // §4.5.3.2.3
  rset: 20_000, // smtp_rset_timeout: only before reusing a pooled connection, where another is opened instead
  data: 120_000, // §4.5.3.2.4, DATA's 354
  body: 180_000, // §4.5.3.2.5, each block of the message taken
};

/** What the log line says the relay was waiting for at `stage`. */
export const STAGE_WAITS: Readonly<Record<Stage, string>> = {
  connect: 'the connection',
  greeting: 'the greeting',
  helo: 'the reply to EHLO/HELO',
  starttls: 'the reply to STARTTLS or the TLS handshake',
  auth: 'the reply to AUTH',
  mail: 'the reply to MAIL FROM',
  rcpt: 'the reply to RCPT TO',
  rset: 'the reply to RSET',
  data: 'the reply to DATA',
  body: 'the message body to be taken',
};

/**
 * What a route or smarthost sets: `timeout` replaces every stage's time (the former single knob), and the connect's too
 * unless `connectTimeout` is set.
 */
export interface TimeoutSettings { timeout?: number; connectTimeout?: number }

/**
 * The time for `stage` under `o`. An explicit `timeout` is one time for every reply and data block, as it was before
 * the stages, and for the connect as well, as it was then: a `timeout: 2m` kept from an older config still lets a
 * slow next hop take 2 minutes to accept the connection. An explicit connect_timeout alone sets the connect's time;
 * with neither, the connect has the table's 30 s.
 */
export function stageTimeout(o: TimeoutSettings, stage: Stage): number {
  if (stage === 'connect') return o.connectTimeout ?? o.timeout ?? STAGE_TIMEOUTS_MS.connect;
  return o.timeout ?? STAGE_TIMEOUTS_MS[stage];
}
