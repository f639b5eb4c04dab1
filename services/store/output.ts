import type { RedisClient } from '../redis/connection.js';
import { channels, keys } from '../redis/keys.js';
import { defineScript } from '../redis/scripts.js';

import type { OutputLine } from '../../protocol/wire.js';
export type { OutputLine };
export interface StoredLine { id: string; task_id: number; time: string; output: string }

/**
 * Appends a batch of numbered lines. A line whose number is not above the last stored one is a
 * resend and is dropped, so runners can resend freely after a lost answer. Past `cap` bytes the
 * stream gets one truncation notice and later lines are acknowledged but not kept.
 * Returns the highest line number now acknowledged.
 */
const APPEND = `
local last = tonumber(redis.call('HGET', KEYS[2], 'last_seq') or '0')
local bytes = tonumber(redis.call('HGET', KEYS[2], 'bytes') or '0')
local truncated = redis.call('HGET', KEYS[2], 'truncated') == '1'
local cap = tonumber(ARGV[1])
local added = 0
local i = 2
while i <= #ARGV do
  local seq = tonumber(ARGV[i])
  local time = ARGV[i + 1]
  local text = ARGV[i + 2]
  if seq > last then
    if not truncated then
      if bytes + #text > cap then
        truncated = true
        redis.call('XADD', KEYS[1], tostring(seq) .. '-0', 't', time, 'o', '[forge] output truncated: this task wrote more than ' .. cap .. ' bytes (max_output_bytes); later lines were dropped')
        redis.call('HSET', KEYS[2], 'truncated', '1')
      else
        redis.call('XADD', KEYS[1], tostring(seq) .. '-0', 't', time, 'o', text)
        bytes = bytes + #text
        added = added + 1
      end
    end
    last = seq
  end
  i = i + 3
end
redis.call('HSET', KEYS[2], 'last_seq', last, 'bytes', bytes)
return {last, added}
`;

export class OutputStore {
  private readonly runAppend;

  constructor(private readonly redis: RedisClient, private readonly capBytes: number) {
    this.runAppend = defineScript(redis, 'forgeOutputAppend', 2, APPEND);
  }

  async append(taskId: number, lines: OutputLine[]): Promise<number> {
    const args: string[] = [String(this.capBytes)];
    for (const line of [...lines].sort((a, b) => a.seq - b.seq)) args.push(String(line.seq), line.time, line.output);
    const [last, added] = (await this.runAppend(keys.output(taskId), keys.outputMeta(taskId), ...args)) as [number, number];
    if (added > 0 || lines.length > 0) {
      await this.redis.publish(channels.taskEvents, JSON.stringify({ type: 'output', id: taskId, last_seq: last }));
    }
    return last;
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
