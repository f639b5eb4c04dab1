--[[
  A task leaves its queue for good: from the active zset (it ran, or was dropped at its claim)
  or, when it was not there, from the waiting one (stopped before any claim).

  KEYS[1] the queue's waiting zset
  KEYS[2] the queue's active zset

  ARGV[1] task id

  Returns 1 when it was listed, else 0.
]]
if redis.call('ZREM', KEYS[2], ARGV[1]) == 1 then return 1 end
return redis.call('ZREM', KEYS[1], ARGV[1])
