--[[
  Puts a claimed task back at the head of its queue (score below the current head), whether or
  not it was still listed as active: a task that is waiting again must be in its queue. With a
  message, the servers are woken in the same step.

  KEYS[1] the queue's waiting zset
  KEYS[2] the queue's active zset

  ARGV[1] task id
  ARGV[2] wake-up channel
  ARGV[3] wake-up message, or '' for no wake-up

  Returns the task's new score.
]]
redis.call('ZREM', KEYS[2], ARGV[1])
local head = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local score = tonumber(ARGV[1])
if #head > 0 and head[1] ~= ARGV[1] then score = math.min(score, tonumber(head[2]) - 1) end
if #head > 0 and head[1] == ARGV[1] then score = tonumber(head[2]) end
redis.call('ZADD', KEYS[1], score, ARGV[1])
if ARGV[3] ~= '' then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
return tostring(score)
