--[[
  One heartbeat of one runner, for all its tasks in one step: records the runner as seen,
  extends every lease it still holds and answers which of its tasks should stop and which are
  no longer its own. Task records are not written: a heartbeat changes nothing a viewer sees.
  Its cost is flat in the runner's task count: one command per kind of read or write for all of
  them (HMGET, ZADD), not one per task. A lease says whether its task was asked to stop
  (`stop`, written by the stop's move) and whether a verdict is pending on it (`judged`), so the
  records are read only for leases taken by a version that did not write `stop`.

  KEYS[1] leases hash (task id -> lease JSON)
  KEYS[2] lease expiry zset
  KEYS[3] runner status hash (runner id -> status JSON)
  KEYS[4] prefix of task record keys (task id appended)
  KEYS[5] the "heartbeats arrive late" flag (see lease-expired.lua)

  ARGV[1] runner id (0: the local worker, which has no status entry)
  ARGV[2] lease length (ms)
  ARGV[3] runner status JSON ('' to leave it)
  ARGV[4] '1' when this beat arrives after its runner's beats went unanswered for a third of the
          lease: the server or Redis is behind, so no lease is judged for a lease from now
  ARGV[5..] task id, attempt, task id, attempt, ...

  Returns {stop ids, lost ids}.
]]
local runner = tonumber(ARGV[1])
local t = redis.call('TIME')
local expiry = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[2])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[3], ARGV[1], ARGV[3]) end
if ARGV[4] == '1' then redis.call('SET', KEYS[5], expiry - tonumber(ARGV[2]), 'PX', ARGV[2]) end
local stop, lost = {}, {}
local ids, attempts = {}, {}
for i = 5, #ARGV, 2 do
  ids[#ids + 1] = ARGV[i]
  attempts[#attempts + 1] = tonumber(ARGV[i + 1])
end
if #ids == 0 then return {stop, lost} end
local leases = redis.call('HMGET', KEYS[1], unpack(ids))
local extend, unknown, records = {}, {}, {}
for n, id in ipairs(ids) do
  local lease = leases[n] and cjson.decode(leases[n])
  if lease and lease.runner_id == runner and lease.attempt == attempts[n] and not lease.judged then
    extend[#extend + 1] = expiry
    extend[#extend + 1] = id
    if lease.stop == true then stop[#stop + 1] = tonumber(id)
    elseif lease.stop == nil then
      unknown[#unknown + 1] = id
      records[#records + 1] = KEYS[4] .. id
    end
  else
    lost[#lost + 1] = tonumber(id)
  end
end
if #extend > 0 then redis.call('ZADD', KEYS[2], 'XX', unpack(extend)) end
if #records > 0 then
  -- Records are compact JSON (JSON.stringify, cjson.encode): a plain search, no decode.
  for n, raw in ipairs(redis.call('MGET', unpack(records))) do
    if raw and string.find(raw, '"stop_requested":true', 1, true) then stop[#stop + 1] = tonumber(unknown[n]) end
  end
end
return {stop, lost}
