import type { RedisClient } from './redis/connection.js';

type Handler = (message: unknown) => void;

/** One subscriber connection per process, fanned out to in-process listeners by channel. */
export class EventBus {
  private readonly handlers = new Map<string, Set<Handler>>();
  private subscriber: RedisClient | undefined;
  private readonly reconnectHandlers = new Set<() => void>();

  constructor(private readonly redis: RedisClient) {}

  async start(channels: string[]): Promise<void> {
    const subscriber: RedisClient = (this.redis as { duplicate(): RedisClient }).duplicate();
    this.subscriber = subscriber;
    subscriber.on('error', () => {});
    // Messages published while the connection was down are lost: listeners that keep state
    // derived from them hear when it is back (ioredis resubscribes on its own).
    let connected = false;
    subscriber.on('ready', () => {
      if (connected) for (const handler of this.reconnectHandlers) handler();
      connected = true;
    });
    subscriber.on('message', (channel: string, text: string) => {
      let message: unknown;
      try {
        message = JSON.parse(text);
      } catch {
        return;
      }
      for (const handler of this.handlers.get(channel) ?? []) handler(message);
    });
    await subscriber.subscribe(...channels);
  }

  on(channel: string, handler: Handler): () => void {
    const set = this.handlers.get(channel) ?? new Set();
    set.add(handler);
    this.handlers.set(channel, set);
    return () => set.delete(handler);
  }

  /** Called each time the subscription is back after a disconnect (events may have been missed meanwhile). */
  onReconnect(handler: () => void): () => void {
    this.reconnectHandlers.add(handler);
    return () => this.reconnectHandlers.delete(handler);
  }

  async stop(): Promise<void> {
    if (this.subscriber) this.subscriber.disconnect();
  }
}
