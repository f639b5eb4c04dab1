import type { RedisClient } from '../redis/connection.js';
import { channels, keys } from '../redis/keys.js';
import { script } from '../redis/scripts.js';

import type { OutputLine } from '../../protocol/wire.js';
export type { OutputLine };
export interface StoredLine { id: string; task_id: number; time: string; output: string }

export class OutputStore {
  private readonly runAppend;
  private readonly runNotice;

  constructor(private readonly redis: RedisClient, private readonly capBytes: number) {
    this.runAppend = script(redis, 'output-append');
    this.runNotice = script(redis, 'output-notice');
  }

  /**
   * Appends a runner's numbered lines of one attempt (see output-append.lua); resends are dropped.
   * Answers the highest line number of that attempt now acknowledged. Live views hear of new lines
   * from the same script; `event` replaces that announcement with the caller's task event, which
   * goes out whether or not a line was new (live views read new lines on any event of the task);
   * `quiet`: nothing is announced (the caller's next move publishes its task event).
   */
  async append(taskId: number, attempt: number, lines: OutputLine[], options: { event?: string; quiet?: boolean } = {}): Promise<number> {
    const channel = options.quiet ? '' : channels.taskEvents;
    const args: string[] = [String(this.capBytes), String(attempt), channel, options.event ?? outputEvent(taskId), options.event ? '1' : '0'];
    for (const line of [...lines].sort((a, b) => a.seq - b.seq)) args.push(String(line.seq), line.time, line.output);
    const [acked] = (await this.runAppend(keys.output(taskId), keys.outputMeta(taskId), ...args)) as [number, number];
    return acked;
  }

  /** A line from the server (e.g. "runner lost"); it takes no line number a runner may still send. */
  async notice(taskId: number, time: string, text: string): Promise<void> {
    await this.runNotice(keys.output(taskId), keys.outputMeta(taskId), time, text);
    await this.announce(taskId);
  }

  private async announce(taskId: number): Promise<void> {
    await this.redis.publish(channels.taskEvents, outputEvent(taskId));
  }

  async lastSeq(taskId: number): Promise<number> {
    return Number((await this.redis.hget(keys.outputMeta(taskId), 'last_seq')) ?? 0);
  }

  /** Lines after stream id `after` ('0' for all), oldest first. */
  async read(taskId: number, after = '0', count = 10_000): Promise<StoredLine[]> {
    const entries = await this.redis.xrange(keys.output(taskId), `(${after === '0' ? '0-0' : after}`, '+', 'COUNT', count);
    return entries.map(([id, fields]) => {
      const map: Record<string, string> = {};
      for (let i = 0; i < fields.length; i += 2) map[fields[i]!] = fields[i + 1]!;
      return { id, task_id: taskId, time: map.t ?? '', output: map.o ?? '' };
    });
  }
}

const outputEvent = (taskId: number) => JSON.stringify({ type: 'output', id: taskId });
