--[[
  Moves a task record from one status to the next atomically, together with its status indexes
  and, when asked, its lease: the patch applies only if the task is in one of the expected
  statuses (and, when given, the same attempt), so a result delivered twice or a stop racing a
  finish changes the record once. Taking the lease in the same step means a claimed task always
  has a lease; dropping it in the same step means a requeued or finished task never keeps one.

  KEYS[1] the task record
  KEYS[2] set of active task ids
  KEYS[3] zset of waiting task ids
  KEYS[4] zset of finished task ids
  KEYS[5] prefix of the per-project active sets (project id appended)
  KEYS[6] leases hash (task id -> lease JSON)
  KEYS[7] lease expiry zset (task id -> expiry ms)
  KEYS[8] set of leases with a verdict pending
  KEYS[9] prefix of the per-runner task sets (runner id appended)

  ARGV[1] condition JSON {from?: string[], attempt?: number, project_limit?: number}
  ARGV[2] patch JSON
  ARGV[3] now (ms), score in the finished index
  ARGV[4] now (ms), score in the waiting index
  ARGV[5] lease JSON: {} | {take: {lease, runner_id, lease_ms}} | {drop: true}

  Returns the new record JSON, or false when the condition did not hold.
]]
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
local task = cjson.decode(raw)
local cond = cjson.decode(ARGV[1])
if cond.from then
  local ok = false
  for _, s in ipairs(cond.from) do if s == task.status then ok = true end end
  if not ok then return false end
end
if cond.attempt and cond.attempt ~= task.attempt then return false end
if cond.project_limit and cond.project_limit > 0 and redis.call('SCARD', KEYS[5] .. task.project_id) >= cond.project_limit then return false end
local prev = task.status
local patch = cjson.decode(ARGV[2])
for k, v in pairs(patch) do task[k] = v end
local out = cjson.encode(task)
redis.call('SET', KEYS[1], out)
local s = task.status
local id = tostring(task.id)
-- The status indexes follow the status (only this script and TaskStore.create write them), so
-- they change only when the status does, and only the ones the move enters or leaves.
local function active(status) return status == 'starting' or status == 'running' or status == 'waiting_confirmation' or status == 'confirmed' or status == 'stopping' end
if s ~= prev then
  if s == 'waiting' then redis.call('ZADD', KEYS[3], ARGV[4], id) elseif prev == 'waiting' then redis.call('ZREM', KEYS[3], id) end
  if active(s) and not active(prev) then
    redis.call('SADD', KEYS[2], id)
    redis.call('SADD', KEYS[5] .. task.project_id, id)
  elseif active(prev) and not active(s) then
    redis.call('SREM', KEYS[2], id)
    redis.call('SREM', KEYS[5] .. task.project_id, id)
  end
  if s == 'success' or s == 'error' or s == 'stopped' or s == 'rejected' then redis.call('ZADD', KEYS[4], ARGV[3], id) end
end

local lease = cjson.decode(ARGV[5])
if lease.drop then
  local held = redis.call('HGET', KEYS[6], id)
  if held then redis.call('SREM', KEYS[9] .. cjson.decode(held).runner_id, id) end
  redis.call('HDEL', KEYS[6], id)
  redis.call('ZREM', KEYS[7], id)
  redis.call('SREM', KEYS[8], id)
elseif lease.take then
  redis.call('HSET', KEYS[6], id, cjson.encode(lease.take.lease))
  local t = redis.call('TIME')
  redis.call('ZADD', KEYS[7], tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + lease.take.lease_ms, id)
  redis.call('SREM', KEYS[8], id)
  redis.call('SADD', KEYS[9] .. lease.take.runner_id, id)
end
return out
