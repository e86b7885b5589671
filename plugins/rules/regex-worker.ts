// The thread where admins' regular expressions meet message text. Node has no regex timeout, and an ordinary pattern
// such as `\s*y` takes half a second on 16 KB of spaces (`(a+)+$` takes forever on 30 characters): here one can run
// as long as it likes while the gateway's event loop goes on, and the gateway ends this thread at its deadline.
import { parentPort, workerData } from 'node:worker_threads';

export interface RegexSource { id: number; source: string; flags: string }
/** `each`: answer for every input apart (`hits`), as the `to` criterion needs per recipient; else whether any matched. */
export interface RegexJob { job: number; tests: Array<{ id: number; inputs: string[]; each?: boolean }> }
/**
 * `ready` once, when the regexes are compiled (a job's running time is counted from then, not from the thread's
 * start); then per job one answer per test as soon as it is known, so a deadline keeps what finished, and `done`.
 * `hits`, for a test with `each`: the indices of the inputs that matched.
 */
export type RegexReply = { ready: true } | { job: number; id: number; matched: boolean; hits?: number[] } | { job: number; done: true };

const compiled = new Map<number, RegExp>();
for (const r of (workerData as { regexes: RegexSource[] }).regexes) compiled.set(r.id, new RegExp(r.source, r.flags));

parentPort!.on('message', (msg: RegexJob) => {
  for (const t of msg.tests) {
    const re = compiled.get(t.id);
    if (t.each) {
      const hits = re ? t.inputs.flatMap((s, i) => (re.test(s) ? [i] : [])) : [];
      parentPort!.postMessage({ job: msg.job, id: t.id, matched: hits.length > 0, hits } satisfies RegexReply);
      continue;
    }
    const matched = !!re && t.inputs.some((s) => re.test(s));
    parentPort!.postMessage({ job: msg.job, id: t.id, matched } satisfies RegexReply);
  }
  parentPort!.postMessage({ job: msg.job, done: true } satisfies RegexReply);
});
parentPort!.postMessage({ ready: true } satisfies RegexReply);
