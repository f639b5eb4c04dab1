--[[
  One heartbeat of one runner, for all its tasks in one step: records the runner as seen,
  extends every lease it still holds and answers which of its tasks should stop and which are
  no longer its own. Task records are only read, never written: a heartbeat changes nothing a
  viewer sees.

  KEYS[1] leases hash (task id -> lease JSON)
  KEYS[2] lease expiry zset
  KEYS[3] set of leases with a verdict pending
  KEYS[4] runner status hash (runner id -> status JSON)
  KEYS[5] prefix of task record keys (task id appended)

  ARGV[1] runner id (0: the local worker, which has no status entry)
  ARGV[2] lease length (ms)
  ARGV[3] runner status JSON ('' to leave it)
  ARGV[4..] task id, attempt, task id, attempt, ...

  Returns {stop ids, lost ids}.
]]
local runner = tonumber(ARGV[1])
local t = redis.call('TIME')
local expiry = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[2])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[4], ARGV[1], ARGV[3]) end
local stop, lost = {}, {}
for i = 4, #ARGV, 2 do
  local id = ARGV[i]
  local attempt = tonumber(ARGV[i + 1])
  local raw = redis.call('HGET', KEYS[1], id)
  local lease = raw and cjson.decode(raw)
  if lease and lease.runner_id == runner and lease.attempt == attempt and redis.call('SISMEMBER', KEYS[3], id) == 0 then
    redis.call('ZADD', KEYS[2], 'XX', expiry, id)
    local task = redis.call('GET', KEYS[5] .. id)
    if task and cjson.decode(task).stop_requested then stop[#stop + 1] = tonumber(id) end
  else
    lost[#lost + 1] = tonumber(id)
  end
end
return {stop, lost}
