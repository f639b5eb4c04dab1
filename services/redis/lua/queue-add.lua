--[[
  Puts a task at the tail of its queue, once, and wakes the servers in the same step. A task
  already waiting keeps its place (ZADD NX): a task is never queued twice.

  KEYS[1] the queue's waiting zset (score = order: the task id, so FIFO by creation)
  KEYS[2] the queue's active zset (claimed jobs; score = claimed-at ms)

  ARGV[1] task id
  ARGV[2] wake-up channel
  ARGV[3] wake-up message

  Returns 1 when queued, 0 when it was already waiting or claimed.
]]
if redis.call('ZSCORE', KEYS[2], ARGV[1]) then return 0 end
local added = redis.call('ZADD', KEYS[1], 'NX', ARGV[1], ARGV[1])
if added == 1 then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
return added
