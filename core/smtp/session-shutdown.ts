// How a stop ends the SMTP sessions it finds: at once when they wait for the client, after a grace when a message is
// still coming in, and when its reply is sent (within a limit) when a message is in and being checked and queued.
import type { SMTPServer } from 'smtp-server';
import type { Logger } from '../log/types.ts';
import type { RawConnection } from './patches.ts';

/**
 * How long, from the start of a stop, a client may go on sending a message (or wait for a command's hooks) before it
 * is told 421 and its partial message dropped. A message that takes longer than 20 s to finish comes over a link so
 * slow (or from a client so hostile) that a retry costs its sender little, and the stop must end well inside
 * systemd's 90 s TimeoutStopSec: this grace, plus one data hook's default time limit (30 s) for a message whose final
 * dot came just before it, still leaves a third of that for the plugins, the relay and the queue to close. It is
 * longer than the deliveries' 10 s (core/queue/delivery-queue.ts STOP_GRACE_MS) because a message cut here is sent
 * again whole by a client that may be anywhere, where a cut delivery is resent from our own disk.
 */
export const STOP_DATA_GRACE_MS = 20_000;

/**
 * How long, from the start of a stop, a message whose final dot has arrived may take to be checked and queued before
 * its client is told 421 without waiting for the result. Its checks are bounded by the plugins' time limits, but a
 * chain of slow plugins could add up to more than a stop may take. Past it the message may still be queued after the
 * 421: sent twice then, as a Postfix smtpd killed between its fsync and its reply would, never lost.
 */
export const STOP_REPLY_LIMIT_MS = 50_000;

/** How often a stop looks at its sessions (a transaction finished, a greeting sent, a grace ran out). */
const SWEEP_MS = 100;

/** The text of every 421 a stop gives (after the code): its enhanced code first, as the README promises. */
export const SHUTTING_DOWN = '4.3.2 Service shutting down, try again later';

export interface StopLimits { dataGraceMs: number; replyLimitMs: number }

/** Where a session stands, as far as a stop is concerned. */
type Stage =
  | 'idle' // waiting for the client's next command: nothing to finish
  | 'starting' // the connect hooks or the greeting delay are still running
  | 'handshake' // a STARTTLS handshake is under way
  | 'command' // a command's hooks are running
  | 'receiving' // the client is sending its message (before its final dot)
  | 'deciding'; // the message is in, and its checks, queueing and reply are under way

type SessionConnection = RawConnection & { _parser?: { _dataMode?: boolean; dataBytes?: number } | false; _closing?: boolean };
type DataStream = { destroyed?: boolean; writableEnded?: boolean; listenerCount(e: string): number; destroy(err?: Error): void };

function stageOf(c: SessionConnection): Stage {
  if (c._upgrading) return 'handshake';
  if (!c._ready) return 'starting';
  if (c._dataStream) return c._parser && c._parser._dataMode ? 'receiving' : 'deciding';
  if (c._handlerPending) return 'command';
  return 'idle';
}

function connectionsOf(server: SMTPServer): Set<SessionConnection> {
  return (server as unknown as { connections: Set<SessionConnection> }).connections;
}

/** Message handlers (onData) that have not called back yet, per server, so a stop can wait for their replies. */
const pendingMessages = new WeakMap<SMTPServer, { count: number; settled: Array<() => void> }>();

type OnData = SMTPServer['onData'];

/** Wraps a listener's onData so that a stop knows when every message it received has had its reply decided. */
export function countMessageHandlers(server: SMTPServer, onData: OnData): OnData {
  const state = { count: 0, settled: [] as Array<() => void> };
  pendingMessages.set(server, state);
  return (stream, session, cb) => {
    state.count++;
    let answered = false;
    onData(stream, session, (err, message) => {
      if (!answered) {
        answered = true;
        if (--state.count === 0) for (const r of state.settled.splice(0)) r();
      }
      cb(err, message);
    });
  };
}

function messagesSettled(server: SMTPServer): Promise<void> {
  const state = pendingMessages.get(server);
  if (!state || state.count === 0) return Promise.resolve();
  return new Promise((r) => state.settled.push(r));
}

/**
 * The message under way is dropped now rather than when the socket closes (up to 5 s later): its spool file is
 * removed and its summary line logged (verdict aborted) before the stop goes on to close the queue. The code is the
 * one smtp-server gives a client that hung up, which the intake takes as a transaction nothing of ours failed.
 */
function abandonMessage(c: SessionConnection): void {
  const stream = c._dataStream as DataStream | undefined;
  if (!stream || stream.destroyed || stream.writableEnded) return;
  const err = Object.assign(new Error('Cut off by a stop before the message was received in full'), { code: 'ECONNECTION', cutByStop: true });
  stream.destroy(stream.listenerCount('error') ? err : undefined);
}

/**
 * Ends every session of `servers`, which have stopped accepting. Resolves once every connection is gone and every
 * message handler has answered, or, for a handler still running past `replyLimitMs`, once its client was told 421.
 */
export async function endSessionsForStop(servers: Array<{ server: SMTPServer; log: () => Logger | undefined; listener: string }>, limits: StopLimits = { dataGraceMs: STOP_DATA_GRACE_MS, replyLimitMs: STOP_REPLY_LIMIT_MS }): Promise<void> {
  const startedAt = Date.now();
  const closed = Promise.all(servers.map(({ server }) => new Promise<void>((r) => {
    // smtp-server's own close timeout tells every session 421 at once, a message checked and about to be queued
    // included; ours are above. Kept as a last resort beyond them, should a socket outlive its 5 s half-close.
    (server as unknown as { options: { closeTimeout: number } }).options.closeTimeout = limits.replyLimitMs + 10_000;
    server.close(() => r());
  })));
  const sweep = () => {
    const elapsed = Date.now() - startedAt;
    const graceOver = elapsed >= limits.dataGraceMs;
    const limitOver = elapsed >= limits.replyLimitMs;
    for (const { server, log, listener } of servers) {
      for (const c of [...connectionsOf(server)]) {
        if (c._closing) continue;
        const stage = stageOf(c);
        if (stage === 'idle') { c.send(421, SHUTTING_DOWN, false); continue; }
        if (stage === 'deciding') {
          if (!limitOver) continue;
          log()?.warn('stopping: a message still being checked is cut off; its client may send it again', { cid: c.id, listener, limit_ms: limits.replyLimitMs });
          c.send(421, SHUTTING_DOWN, false);
          continue;
        }
        if (!graceOver) continue;
        if (stage === 'handshake') { c.close(); continue; } // a plaintext reply would break the TLS records
        if (stage === 'receiving') {
          const bytes = c._parser ? c._parser.dataBytes : undefined;
          log()?.info('stopping: message cut off before its final dot', { cid: c.id, listener, bytes_received: bytes, grace_ms: limits.dataGraceMs });
        }
        c.send(421, SHUTTING_DOWN, false);
        if (stage === 'receiving') abandonMessage(c);
      }
    }
  };
  sweep();
  const timer = setInterval(sweep, SWEEP_MS);
  try {
    await closed;
    // A session ends before its message handler has called back only when it was cut off: wait for the abandoned
    // message to be dropped, and for a message being checked until its limit (its client has had its 421 by then).
    let limitTimer: NodeJS.Timeout | undefined;
    const limit = new Promise<void>((r) => { limitTimer = setTimeout(r, Math.max(0, startedAt + limits.replyLimitMs + SWEEP_MS - Date.now())); });
    try { await Promise.race([Promise.all(servers.map(({ server }) => messagesSettled(server))), limit]); } finally { clearTimeout(limitTimer); }
  } finally {
    clearInterval(timer);
  }
}
