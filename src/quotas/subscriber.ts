/**
 * Admission's one pub/sub connection: limit changes (limits.ts) and lease reclaims
 * (reclaim.ts) arrive on it. A subscribed connection can do nothing else, so it is a
 * dedicated duplicate of the main one; it reconnects on its own.
 */
import type { Logger, Redis } from '../shared/index.js';

export interface Subscription {
  /** True while every channel is subscribed (messages published now reach this process). */
  readonly listening: boolean;
  close(): Promise<void>;
}

export interface SubscribeOptions {
  /** channel -> handler of its messages */
  channels: Record<string, (message: string) => void>;
  logger: Logger;
  /** After each (re)subscription: messages published while disconnected were missed. */
  onSubscribed?: () => void;
  /** When the connection is lost (messages are being missed until onSubscribed). */
  onLost?: () => void;
}

export function subscribeChannels(redis: Redis, opts: SubscribeOptions): Subscription {
  const sub = redis.duplicate({ lazyConnect: false, maxRetriesPerRequest: null });
  let listening = false;
  sub.on('error', () => {}); // reconnects on its own; admission logs Redis trouble itself
  sub.on('message', (channel: string, message: string) => opts.channels[channel]?.(message));
  sub.on('ready', () => {
    sub.subscribe(...Object.keys(opts.channels)).then(
      () => {
        listening = true;
        opts.onSubscribed?.();
      },
      (err: Error) => opts.logger.warn({ err: err.message }, 'admission subscription failed'),
    );
  });
  const lost = () => {
    if (!listening) return;
    listening = false;
    opts.onLost?.();
  };
  sub.on('close', lost);
  sub.on('reconnecting', lost);
  return {
    get listening() {
      return listening;
    },
    async close() {
      lost();
      sub.disconnect();
    },
  };
}
