--[[
  Takes the head of a queue: the task leaves the waiting zset for the active one, stamped with
  when it was claimed (the repair of orphaned jobs reads it). The lease, taken next with the
  task's status, is what decides the claim; this is only the list.

  KEYS[1] the queue's waiting zset
  KEYS[2] the queue's active zset

  ARGV[1] now (ms)

  Returns {task id, tasks still waiting}, or false when the queue is empty. The count lets the
  server skip this queue once it is drained, rather than find it empty on the next claim.
]]
local head = redis.call('ZPOPMIN', KEYS[1])
if #head == 0 then return false end
redis.call('ZADD', KEYS[2], ARGV[1], head[1])
return { head[1], redis.call('ZCARD', KEYS[1]) }
