// What /metrics tells of the gateway's process itself: memory, CPU, file descriptors, event-loop lag and child
// processes, under the names prom-client's default metrics give them, so dashboards and alerts made for any Node
// service read them as they are.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';

type IntervalHistogram = ReturnType<typeof monitorEventLoopDelay>;

/** The process's own values, as `moat metrics --json` shows them under `process`. */
export interface ProcessValues {
  cpu_user_seconds: number;
  cpu_system_seconds: number;
  cpu_seconds: number;
  start_time_seconds: number;
  resident_memory_bytes: number;
  virtual_memory_bytes?: number;
  heap_bytes?: number;
  open_fds?: number;
  max_fds?: number;
}

/** Event-loop lag in seconds over the last 30 to 60 s (see EventLoopLag), beside V8's heap. */
export interface NodeValues {
  heap_size_total_bytes: number;
  heap_size_used_bytes: number;
  external_memory_bytes: number;
  eventloop_lag_seconds: { p50: number; p99: number; max: number; mean: number };
}

/** Children of the gateway's process now: every one, and the filter scripts' sandboxes among them. */
export interface ChildValues { child_processes: number; script_sandbox_children: number }

/**
 * How often each lag monitor samples. Measured idle on the shared 2-core test machine (20 s each): one monitor at
 * prom-client's 10 ms cost 134 ms of CPU, two at 20 ms 70 ms, two at 50 ms 27 ms. A stall longer than this always
 * delays a run of the monitor's timer, by its length less at most this; a shorter one only when it falls on a run.
 */
const LAG_RESOLUTION_MS = 20;
/** Each of the two monitors is reset this often, half a period apart from the other. */
const LAG_PERIOD_MS = 60_000;

/**
 * Event-loop lag from two perf_hooks monitors reset in turn, half a period apart: the one that has run longer covers
 * the last 30 to 60 s, whatever the scrape interval and however many scrapers ask. A monitor reset at each scrape, as
 * prom-client's is, would let `moat metrics` run by hand hide a stall from Prometheus; one never reset would show the
 * start's stall (plugins loading) for the life of the process. A monitor's sample is the time between two of its
 * timer's runs; the lag is what exceeds the resolution.
 */
class EventLoopLag {
  private readonly monitors: Array<{ histogram: IntervalHistogram; since: number }>;

  constructor(now = performance.now()) {
    this.monitors = [0, 1].map(() => {
      const histogram = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
      histogram.enable();
      return { histogram, since: now };
    });
    // The first is reset every period from now, the second every period from half a period on.
    const resetEvery = (m: { histogram: IntervalHistogram; since: number }) => {
      const t = setInterval(() => { m.histogram.reset(); m.since = performance.now(); }, LAG_PERIOD_MS);
      t.unref();
    };
    resetEvery(this.monitors[0]);
    const late = setTimeout(() => { this.monitors[1].histogram.reset(); this.monitors[1].since = performance.now(); resetEvery(this.monitors[1]); }, LAG_PERIOD_MS / 2);
    late.unref();
  }

  values(): NodeValues['eventloop_lag_seconds'] {
    const oldest = this.monitors[0].since <= this.monitors[1].since ? this.monitors[0] : this.monitors[1];
    const h = oldest.histogram;
    // No sample yet (the first moments): no lag seen, rather than the histogram's empty-state min of 2^63.
    if (!h.count) return { p50: 0, p99: 0, max: 0, mean: 0 };
    const lag = (ns: number) => Math.round(Math.max(0, ns / 1e3 - LAG_RESOLUTION_MS * 1000)) / 1e6;
    return { p50: lag(h.percentile(50)), p99: lag(h.percentile(99)), max: lag(h.max), mean: lag(h.mean) };
  }
}

let lag: EventLoopLag | undefined;

/** Starts the event-loop lag monitor of this process, once; its timers never keep the process alive. */
export function startProcessMonitor(): void { lag ??= new EventLoopLag(); }

/** A number of kB from a `/proc/self/status` line (`VmRSS:    51200 kB`), in bytes. */
function statusBytes(status: string, field: string): number | undefined {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
  return m ? Number(m[1]) * 1024 : undefined;
}

function readOrUndefined(file: string): string | undefined {
  try { return readFileSync(file, 'utf8'); } catch { return undefined; }
}

/** Open file descriptors, less the one the listing itself holds open; undefined where there is no /proc. */
function openFds(): number | undefined {
  try { return readdirSync('/proc/self/fd').length - 1; } catch { return undefined; }
}

/** The soft limit on open files (what EMFILE is measured against), undefined when unlimited or unknown. */
function maxFds(): number | undefined {
  const m = /^Max open files\s+(\d+)/m.exec(readOrUndefined('/proc/self/limits') ?? '');
  return m ? Number(m[1]) : undefined;
}

/** Wall-clock start of the process, fixed once: Date.now() and uptime() read a moment apart would make it jitter. */
const START_TIME_SECONDS = Math.round((Date.now() - process.uptime() * 1000)) / 1000;

/** Memory, CPU and descriptors now. Reads three small /proc files; about 0.1 ms. */
export function processValues(): ProcessValues {
  const cpu = process.cpuUsage();
  const status = readOrUndefined('/proc/self/status');
  const out: ProcessValues = {
    cpu_user_seconds: cpu.user / 1e6,
    cpu_system_seconds: cpu.system / 1e6,
    cpu_seconds: (cpu.user + cpu.system) / 1e6,
    start_time_seconds: START_TIME_SECONDS,
    resident_memory_bytes: (status ? statusBytes(status, 'VmRSS') : undefined) ?? process.memoryUsage.rss(),
  };
  if (status) {
    out.virtual_memory_bytes = statusBytes(status, 'VmSize');
    out.heap_bytes = statusBytes(status, 'VmData');
  }
  const fds = openFds();
  if (fds !== undefined) out.open_fds = fds;
  const max = maxFds();
  if (max !== undefined) out.max_fds = max;
  return out;
}

export function nodeValues(): NodeValues {
  const m = process.memoryUsage();
  startProcessMonitor();
  return {
    heap_size_total_bytes: m.heapTotal,
    heap_size_used_bytes: m.heapUsed,
    external_memory_bytes: m.external,
    eventloop_lag_seconds: lag!.values(),
  };
}

/**
 * The file a sandbox child runs (plugins/scripts/sandbox-child.ts), by its name: the core cannot ask the plugin's
 * pools, which live inside plugin instances, and a script's sandbox is what an admin means to count.
 */
const SANDBOX_CHILD = /^sandbox-child\.[cm]?[jt]s$/;

/**
 * The gateway's child processes now, from /proc (each thread's `children`, then each child's command line): the
 * script sandboxes, and the rest (a command-line virus scanner, bogofilter). Undefined where /proc has no such files.
 */
export function childValues(): ChildValues | undefined {
  let tasks: string[];
  try { tasks = readdirSync('/proc/self/task'); } catch { return undefined; }
  const pids = new Set<string>();
  let readable = false;
  for (const tid of tasks) {
    const list = readOrUndefined(`/proc/self/task/${tid}/children`);
    if (list === undefined) continue;
    readable = true;
    for (const pid of list.split(' ')) if (pid.trim()) pids.add(pid.trim());
  }
  if (!readable) return undefined;
  let sandboxes = 0;
  for (const pid of pids) {
    // A sandbox is first `/bin/sh -c … sandbox-child.ts` (for its memory limit), then Node running child-loader.mjs with
    // sandbox-child.ts among its arguments.
    const args = (readOrUndefined(`/proc/${pid}/cmdline`) ?? '').split('\0');
    if (args.some((a) => SANDBOX_CHILD.test(path.basename(a)))) sandboxes++;
  }
  return { child_processes: pids.size, script_sandbox_children: sandboxes };
}

/** One family of the Prometheus text, under its standard name (no `mailmoat_` prefix: these are any process's). */
export interface StandardSample { name: string; kind: 'counter' | 'gauge'; help: string; value: number }

/** prom-client's names and types, by the JSON key under `process` or `nodejs`. */
const STANDARD: Record<'process' | 'nodejs', Record<string, [string, 'counter' | 'gauge', string]>> = {
  process: {
    cpu_user_seconds: ['process_cpu_user_seconds_total', 'counter', 'User CPU time spent, in seconds'],
    cpu_system_seconds: ['process_cpu_system_seconds_total', 'counter', 'System CPU time spent, in seconds'],
    cpu_seconds: ['process_cpu_seconds_total', 'counter', 'User and system CPU time spent, in seconds'],
    start_time_seconds: ['process_start_time_seconds', 'gauge', 'Start time of the process since the Unix epoch, in seconds'],
    resident_memory_bytes: ['process_resident_memory_bytes', 'gauge', 'Resident memory size (VmRSS), in bytes'],
    virtual_memory_bytes: ['process_virtual_memory_bytes', 'gauge', 'Virtual memory size (VmSize), in bytes'],
    heap_bytes: ['process_heap_bytes', 'gauge', 'Process data segment (VmData: heaps, buffers outside V8), in bytes'],
    open_fds: ['process_open_fds', 'gauge', 'Open file descriptors (sockets, queue files, pipes)'],
    max_fds: ['process_max_fds', 'gauge', 'Limit on open file descriptors (soft RLIMIT_NOFILE)'],
  },
  nodejs: {
    heap_size_total_bytes: ['nodejs_heap_size_total_bytes', 'gauge', 'V8 heap size, in bytes'],
    heap_size_used_bytes: ['nodejs_heap_size_used_bytes', 'gauge', 'V8 heap in use, in bytes'],
    external_memory_bytes: ['nodejs_external_memory_bytes', 'gauge', 'Memory of C++ objects bound to JavaScript objects (buffers), in bytes'],
  },
};

/** The lag figures, by their key under `nodejs.eventloop_lag_seconds`. */
const LAG: Record<string, [string, string]> = {
  mean: ['nodejs_eventloop_lag_seconds', 'Mean event-loop lag over the last 30 to 60 s, in seconds'],
  p50: ['nodejs_eventloop_lag_p50_seconds', 'Median event-loop lag over the last 30 to 60 s, in seconds'],
  p99: ['nodejs_eventloop_lag_p99_seconds', '99th percentile of event-loop lag over the last 30 to 60 s, in seconds'],
  max: ['nodejs_eventloop_lag_max_seconds', 'Longest event-loop lag over the last 30 to 60 s, in seconds'],
};

/** The Prometheus families of what `process` and `nodejs` hold in a metrics snapshot (keys it does not know are left out). */
export function standardSamples(processPart: unknown, nodejsPart: unknown): StandardSample[] {
  const out: StandardSample[] = [];
  const take = (part: unknown, table: Record<string, [string, 'counter' | 'gauge', string]>) => {
    if (!part || typeof part !== 'object') return;
    for (const [key, v] of Object.entries(part)) {
      const known = table[key];
      if (known && typeof v === 'number') out.push({ name: known[0], kind: known[1], help: known[2], value: v });
    }
  };
  take(processPart, STANDARD.process);
  take(nodejsPart, STANDARD.nodejs);
  const lagPart = (nodejsPart as { eventloop_lag_seconds?: unknown } | undefined)?.eventloop_lag_seconds;
  if (lagPart && typeof lagPart === 'object') {
    for (const [key, [name, help]] of Object.entries(LAG)) {
      const v = (lagPart as Record<string, unknown>)[key];
      if (typeof v === 'number') out.push({ name, kind: 'gauge', help, value: v });
    }
  }
  return out;
}
