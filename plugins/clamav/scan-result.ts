// What a scan returns, and the error for a scan that could not give a verdict.

export type ScanResult = { infected: false } | { infected: true; viruses: string[] };

export type ScanErrorKind = 'unreachable' | 'timeout' | 'size-limit' | 'error';

/** A scan that did not produce a verdict; `kind` lets the failure policy and the log say what happened. */
export class ScanError extends Error {
  readonly kind: ScanErrorKind;
  constructor(kind: ScanErrorKind, message: string) {
    super(message);
    this.name = 'ScanError';
    this.kind = kind;
  }
}
