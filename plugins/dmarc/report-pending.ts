// A report built but not yet settled for every destination, as the state store keeps it: once built, a report is
// what is sent, again and again if need be, so a destination that failed for now gets the same report (its id, its
// content) an interval later, and one already queued to is never sent another of the same records.
import type { ReportAddress } from './report-uri.ts';

export interface PendingReport {
  reportId: string;
  /** Seconds since the epoch, UTC, as date_range says them. */
  begin: number;
  end: number;
  records: number;
  messages: number;
  /** The gzipped XML. */
  gzip: Buffer;
  /** The destinations not yet settled: neither queued to nor refused for good. */
  to: ReportAddress[];
}

const str = (v: unknown): v is string => typeof v === 'string';
const whole = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/** The report as the text the store keeps. */
export function encodePending(r: PendingReport): string {
  return JSON.stringify({ ...r, gzip: r.gzip.toString('base64') });
}

function decodeAddress(v: unknown): ReportAddress | undefined {
  const a = v as Partial<ReportAddress> | null;
  if (!a || !str(a.uri) || !str(a.address) || !str(a.domain) || (a.maxBytes !== undefined && !whole(a.maxBytes))) return undefined;
  return { uri: a.uri, address: a.address, domain: a.domain, ...(a.maxBytes !== undefined ? { maxBytes: a.maxBytes } : {}) };
}

/** The report a stored text holds, or undefined for text that is not one (the store is shared; nothing is trusted). */
export function decodePending(text: string | null): PendingReport | undefined {
  if (!text) return undefined;
  let v: Record<string, unknown>;
  try { v = JSON.parse(text); } catch { return undefined; }
  if (!v || !str(v.reportId) || !whole(v.begin) || !whole(v.end) || !whole(v.records) || !whole(v.messages) || !str(v.gzip) || !Array.isArray(v.to)) return undefined;
  const to = v.to.map(decodeAddress);
  if (to.some((a) => !a)) return undefined;
  return { reportId: v.reportId, begin: v.begin, end: v.end, records: v.records, messages: v.messages, gzip: Buffer.from(v.gzip, 'base64'), to: to as ReportAddress[] };
}
