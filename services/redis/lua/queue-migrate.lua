--[[
  Upgrade from the BullMQ task queues, once per queue: task jobs (ids `task-N`) left waiting,
  paused or prioritized go to the waiting zset, those left active to the active zset (stamped
  with when BullMQ handed them out, so the repair of orphaned jobs judges them as before); then
  every BullMQ key of that queue is deleted. The old keys carry the queue's own hash tag, so they
  share the new keys' slot (the job keys, built here from ARGV[1], too).

  KEYS[1] old waiting list     (forge:<name>:wait)
  KEYS[2] old paused list      (forge:<name>:paused)
  KEYS[3] old prioritized zset (forge:<name>:prioritized)
  KEYS[4] old active list      (forge:<name>:active)
  KEYS[5] the queue's waiting zset
  KEYS[6] the queue's active zset

  ARGV[1] old key prefix (forge:<name>:)
  ARGV[2] now (ms), for an active job with no processedOn
  ARGV[3..] the other BullMQ key suffixes of a queue (meta, id, events, …)

  Returns the number of task jobs moved.
]]
local prefix = ARGV[1]
if redis.call('EXISTS', KEYS[1], KEYS[2], KEYS[3], KEYS[4], prefix .. 'meta', prefix .. 'events', prefix .. 'id', prefix .. 'completed', prefix .. 'failed') == 0 then
  return 0 -- nothing of BullMQ's here: already moved, or never used
end
local moved = 0
local function taskId(jobId)
  return string.match(jobId, '^task%-(%d+)$')
end
local function dropJob(jobId)
  redis.call('DEL', prefix .. jobId, prefix .. jobId .. ':logs', prefix .. jobId .. ':lock')
end

local waiting = redis.call('LRANGE', KEYS[1], 0, -1)
for _, jobId in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do waiting[#waiting + 1] = jobId end
for _, jobId in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do waiting[#waiting + 1] = jobId end
for _, jobId in ipairs(waiting) do
  local id = taskId(jobId)
  if id then
    redis.call('ZADD', KEYS[5], 'NX', id, id)
    moved = moved + 1
  end
  dropJob(jobId)
end
for _, jobId in ipairs(redis.call('LRANGE', KEYS[4], 0, -1)) do
  local id = taskId(jobId)
  if id then
    local at = tonumber(redis.call('HGET', prefix .. jobId, 'processedOn')) or tonumber(ARGV[2])
    redis.call('ZADD', KEYS[6], 'NX', at, id)
    moved = moved + 1
  end
  dropJob(jobId)
end
for _, set in ipairs({ 'completed', 'failed', 'delayed' }) do
  for _, jobId in ipairs(redis.call('ZRANGE', prefix .. set, 0, -1)) do dropJob(jobId) end
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
for i = 3, #ARGV do redis.call('DEL', prefix .. ARGV[i]) end
return moved
