// Routes whose work needs a part of the gateway that is still starting (the quarantine pages need the recovered
// queue): their paths exist from the listener's first moment and answer 503 with Retry-After until then, so a
// recipient who follows a link during a long queue recovery is told to come back, not that the page does not exist.
// A stop holds them again from its first moment: the listener outlives the queue, which closes before it.
import type { HttpResponse, Route } from './types.ts';

/** Seconds a client is asked to wait: a queue recovery takes seconds, rarely minutes. */
export const STARTING_RETRY_AFTER_S = 10;

const starting = (): HttpResponse => ({
  status: 503,
  headers: { 'content-type': 'text/plain; charset=utf-8', 'retry-after': String(STARTING_RETRY_AFTER_S) },
  body: 'The gateway is starting or stopping. Please try again in a moment.\n',
});

/** `routes` answering 503 with Retry-After while `ready()` is false (a start, and again a stop), else as themselves. */
export function heldUntil(ready: () => boolean, routes: readonly Route[]): Route[] {
  return routes.map((route) => ({ ...route, handle: (req) => (ready() ? route.handle(req) : Promise.resolve(starting())) }));
}
