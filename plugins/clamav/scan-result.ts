// What a scan returns, and the error for a scan that could not give a verdict.

export type ScanResult = { infected: false } | { infected: true; viruses: string[] };

export type ScanErrorKind = 'unreachable' | 'timeout' | 'size-limit' | 'error';

/** A scan that did not produce a verdict; `kind` lets the failure policy and the log say what happened. */
export class ScanError extends Error {
  readonly kind: ScanErrorKind;
  /**
   * A size limit inferred from a connection clamd closed mid-stream rather than read from its reply: a clamd (or a
   * balancer in front of a pool) that died or reset the connection looks the same.
   */
  readonly inferred: boolean;
  /** With `inferred`: the message bytes written before the connection closed. */
  readonly sent?: number;
  constructor(kind: ScanErrorKind, message: string, opts: { inferred?: boolean; sent?: number } = {}) {
    super(message);
    this.name = 'ScanError';
    this.kind = kind;
    this.inferred = opts.inferred ?? false;
    if (opts.sent !== undefined) this.sent = opts.sent;
  }
}
