/**
 * Thrown through the machine when the run's signal stops it (an interrupt); caught at its
 * one boundary. The run ends resumable, and an effect it was making has no outcome recorded,
 * so that a resume treats it as one whose outcome is unknown rather than as one that failed.
 */
export class Interrupt {}

/** Throws an Interrupt when `signal` has fired: the run was stopped from outside. */
export function stopIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new Interrupt();
}

/**
 * A signal of one call's own, aborted when the signal `ends` gives is, for as long as the
 * call lasts. What a client hangs on the signal it is given (the MCP SDK adds a listener per
 * request and never takes it off) then goes with the call, instead of piling up on the run's
 * signal: a run of many calls would keep every one of them, and each new listener costs
 * more than the last. It is made when first read, and `ends` asked for only then, so a call
 * that never reads it (a scripted model, a replay, most host functions) is spared the cost.
 */
export function callSignal(ends: () => AbortSignal | undefined): {
  readonly signal: AbortSignal | undefined;
  release: () => void;
} {
  let call: AbortController | undefined;
  let end: AbortSignal | undefined;
  const abort = () => call?.abort(end?.reason);
  return {
    get signal() {
      if (!call) {
        end = ends();
        if (!end) return undefined;
        call = new AbortController();
        if (end.aborted) abort();
        else end.addEventListener('abort', abort, { once: true });
      }
      return call.signal;
    },
    release: () => end?.removeEventListener('abort', abort),
  };
}
