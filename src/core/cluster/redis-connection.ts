/**
 * How the cluster parts hold their Redis connections. Each part is given a factory and opens the
 * connections it needs (a command connection; a blocking one for XREAD; a subscriber for pub/sub),
 * and closes them in close(). Recommended client options, and why:
 *   enableOfflineQueue: false   a command while Redis is down fails at once instead of piling up
 *                               in memory (a publish flood during an outage must not grow the heap)
 *   maxRetriesPerRequest: 1     the same, for commands in flight when the connection drops
 *   retryStrategy: short capped backoff; every part resyncs on the next 'ready' by itself.
 */
import type Redis from 'ioredis';

export type RedisFactory = (role: 'command' | 'blocking' | 'subscriber') => Redis;

/** Resolves when `redis` is ready (now or at its next 'ready'); rejects on 'end' (closed for good). */
export function whenReady(redis: Redis): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onReady = (): void => {
      redis.off('end', onEnd);
      resolve();
    };
    const onEnd = (): void => {
      redis.off('ready', onReady);
      reject(new Error('redis connection closed'));
    };
    redis.once('ready', onReady);
    redis.once('end', onEnd);
  });
}

/** Closes a connection without waiting for pending replies (blocking reads included). */
export function closeConnection(redis: Redis): void {
  redis.disconnect(false);
}

/**
 * Waits for `work` to settle, at most `ms`: a close must not hang on a Redis that is restarting
 * or unreachable (a read loop in its reconnect back-off, a write waiting for a resync). Whatever
 * is still running then is cut off by closing the connections it uses.
 */
export async function settleWithin(work: Promise<unknown> | null, ms: number): Promise<void> {
  if (work === null) return;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
    timer.unref();
  });
  await Promise.race([work.then(() => undefined, () => undefined), timeout]);
  clearTimeout(timer);
}
