// A turn of the event loop for other work (other clients' sessions) in the middle of a long computation.
export const nextTurn = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));
