import { DriverError } from '../spec/errors.js';
import type { ModelDescription, ModelDriver, ModelReply, ModelRequest } from './driver.js';

/**
 * A slot's pin: the model a binding promises, held against what each reply says answered.
 * `onMismatch: error` (the default) fails the call with `model_mismatch`; `warn` lets the
 * reply through with the difference in its `mismatch`, journaled with it and counted in the
 * manifest. A reply that does not say which model answered is not held against the pin.
 *
 * ```yaml
 * models:
 *   main: { driver: openai-compatible, model: m1, pin: { model: m1, fingerprint: fp_1 } }
 * ```
 */
export interface ModelPin {
  /** Checked when the image is bound: the provider the binding's driver names. */
  provider?: string;
  model?: string;
  fingerprint?: string;
  onMismatch?: 'error' | 'warn';
}

export class PinnedDriver implements ModelDriver {
  constructor(
    private readonly inner: ModelDriver,
    private readonly pin: ModelPin,
  ) {}

  describe(): ModelDescription {
    return this.inner.describe();
  }

  async call(request: ModelRequest): Promise<ModelReply> {
    const reply = await this.inner.call(request);
    const differences: string[] = [];
    const { model, fingerprint } = this.pin;
    if (model !== undefined && reply.model !== undefined && reply.model !== model) {
      differences.push(`model '${reply.model}' answered, the pin is '${model}'`);
    }
    if (
      fingerprint !== undefined &&
      reply.fingerprint !== undefined &&
      reply.fingerprint !== fingerprint
    ) {
      differences.push(`fingerprint '${reply.fingerprint}', the pin is '${fingerprint}'`);
    }
    if (differences.length === 0) return reply;
    const what = differences.join('; ');
    if (this.pin.onMismatch === 'warn') return { ...reply, mismatch: what };
    throw new DriverError('model_mismatch', `slot '${request.slot}': ${what}`, {
      slot: request.slot,
      ...(reply.model === undefined ? {} : { model: reply.model }),
    });
  }

  resumeAfter(replies: ModelReply[]): void {
    this.inner.resumeAfter?.(replies);
  }

  async close(): Promise<void> {
    await this.inner.close?.();
  }
}
