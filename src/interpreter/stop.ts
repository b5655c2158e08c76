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
