/**
 * Waiting in tests. Prefer an event the protocol gives (CONNACK, PUBACK, PINGRESP, close) over
 * either of these: sleep() is for waits that are time-based by nature (keepalive, expiry), and
 * waitFor() for broker state that announces itself by no event.
 */
import type { EventEmitter } from 'node:events';

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every 5 ms until it holds; rejects after `ms` naming `what`. */
export async function waitFor(cond: () => boolean | Promise<boolean>, ms = 3000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(5);
  }
}

/** Resolves with the arguments of the next `event` from `emitter`; rejects after `ms`. */
export function nextEvent<A extends unknown[] = unknown[]>(emitter: EventEmitter, event: string, ms = 3000): Promise<A> {
  return new Promise((resolve, reject) => {
    const on = (...args: unknown[]): void => {
      clearTimeout(timer);
      resolve(args as A);
    };
    const timer = setTimeout(() => {
      emitter.off(event, on);
      reject(new Error(`no '${event}' event within ${ms} ms`));
    }, ms);
    emitter.once(event, on);
  });
}
