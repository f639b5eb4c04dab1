--[[
  Moves a task record from one status to the next atomically, together with its status indexes
  and, when asked, its lease: the patch applies only if the task is in one of the expected
  statuses (and, when given, the same attempt), so a result delivered twice or a stop racing a
  finish changes the record once. Taking the lease in the same step means a claimed task always
  has a lease; dropping it in the same step means a requeued or finished task never keeps one.
  A runner's report checks (and extends) its lease here too, and the task event goes out from
  here: one round trip for what were a lease check, a record read, the move and a PUBLISH.

  The lease JSON carries what later steps would otherwise read again: `judged` (a verdict is
  pending: no runner holds it any more; set by lease-expired.lua), `stop` (the task was asked to
  stop: heartbeats answer it from the lease alone), `limit` (the project's max_parallel_tasks as
  the claim read it) and `extras` (whether the task had extras at its claim).

  KEYS[1] the task record
  KEYS[2] zset of finished task ids
  KEYS[3] prefix of the per-project active sets (project id appended; together, the active tasks)
  KEYS[4] leases hash (task id -> lease JSON)
  KEYS[5] lease expiry zset (task id -> expiry ms)
  KEYS[6] prefix of the per-runner task sets (runner id appended)
  KEYS[7] projects hash (project id -> project JSON, for max_parallel_tasks)
  KEYS[8] the task's extras (secret answers and variables kept until it ends)
  KEYS[9] prefix of the tasks' workflow links (task id appended)

  ARGV[1] condition JSON {from?: string[], attempt?: number, lease?: {runner_id, attempt},
          not_stop_requested?: true, within_project_limit?: true | number (the project's
          max_parallel_tasks as the caller keeps it; true reads the project here),
          within_runner_slots?: number (the max_parallel_tasks of the runner in options.take)}
  ARGV[2] patch JSON
  ARGV[3] now (ms), score in the finished index
  ARGV[4] options JSON: {take?: {lease, runner_id, lease_ms}, drop?: true, extend_ms?: number,
          next_attempt?: true (attempt + 1, in the record and the lease taken),
          stopped_if_requested?: true (a 'success' patch of a task asked to stop ends 'stopped'),
          keep_start?: true (a patched start does not replace one already set),
          project_limit?: true (answer the project's max_parallel_tasks too),
          drop_extras?: true (the task ended: its extras go),
          read_extras?: true (answer the task's extras: a claim builds its payload from them),
          read_after?: true (answer what the after-task hooks read: the task's workflow link;
          the project's notification channels are kept records, read by the server)}
  ARGV[5] channel to publish the task event on, or '' for none

  Returns {'ok', record JSON, lease JSON held before the move or false, project limit or false,
  extras JSON or false, {workflow link or false} or false}, or {'lease'} when the runner named in the condition does not hold the
  lease (checked first), {'limit', max_parallel_tasks} when the project already runs that many,
  {'full'} when the runner taking the lease already holds its within_runner_slots, {'cond'} otherwise.
]]
local raw = redis.call('GET', KEYS[1])
if not raw then return {'cond'} end
local task = cjson.decode(raw)
local cond = cjson.decode(ARGV[1])
local opts = cjson.decode(ARGV[4])
local id = tostring(task.id)

-- A runner's lease: held by that runner for that attempt, and no verdict pending on it.
-- The lease as it was, where the move needs it (a check, a drop, an extension).
local patch = cjson.decode(ARGV[2])
local asksStop = patch.stop_requested == true and task.stop_requested ~= true
local held = false
if cond.lease or opts.drop or opts.extend_ms or opts.project_limit or asksStop then held = redis.call('HGET', KEYS[4], id) end
local heldLease = held and cjson.decode(held)
if cond.lease then
  if not heldLease or heldLease.runner_id ~= cond.lease.runner_id or heldLease.attempt ~= cond.lease.attempt
    or heldLease.judged then return {'lease'} end
end
if cond.from then
  local ok = false
  for _, s in ipairs(cond.from) do if s == task.status then ok = true end end
  if not ok then return {'cond'} end
end
if cond.attempt and cond.attempt ~= task.attempt then return {'cond'} end
if cond.not_stop_requested and task.stop_requested == true then return {'cond'} end
-- The claiming runner's free slot, counted where its lease is taken (its tasks set is KEYS[6]..id).
if cond.within_runner_slots and cond.within_runner_slots > 0 and opts.take
  and redis.call('SCARD', KEYS[6] .. opts.take.runner_id) >= cond.within_runner_slots then return {'full'} end
local limit = false
if opts.project_limit and heldLease and heldLease.limit then limit = heldLease.limit
elseif type(cond.within_project_limit) == 'number' and not opts.project_limit then limit = cond.within_project_limit
elseif cond.within_project_limit or opts.project_limit then
  local project = redis.call('HGET', KEYS[7], tostring(task.project_id))
  limit = project and tonumber(cjson.decode(project).max_parallel_tasks) or 0
end
if cond.within_project_limit and limit > 0 and redis.call('SCARD', KEYS[3] .. task.project_id) >= limit then return {'limit', limit} end

local prev = task.status
local hasStart = task.start ~= nil and task.start ~= cjson.null and task.start ~= ''
for k, v in pairs(patch) do
  if not (k == 'start' and opts.keep_start and hasStart) then task[k] = v end
end
if opts.stopped_if_requested and patch.status == 'success' and task.stop_requested == true then task.status = 'stopped' end
if opts.next_attempt then task.attempt = task.attempt + 1 end
local out = cjson.encode(task)
redis.call('SET', KEYS[1], out)
local s = task.status
-- The status indexes follow the status (only this script and TaskStore.create write them), so
-- they change only when the status does, and only the ones the move enters or leaves. Waiting
-- tasks have no index of their own: their queues list them.
local function active(status) return status == 'starting' or status == 'running' or status == 'waiting_confirmation' or status == 'confirmed' or status == 'stopping' end
local function final(status) return status == 'success' or status == 'error' or status == 'stopped' or status == 'rejected' end
if s ~= prev then
  if active(s) and not active(prev) then
    redis.call('SADD', KEYS[3] .. task.project_id, id)
  elseif active(prev) and not active(s) then
    redis.call('SREM', KEYS[3] .. task.project_id, id)
  end
  if final(s) then redis.call('ZADD', KEYS[2], ARGV[3], id) end
end

local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local extras = false
-- A task stored without extras says so (has_extras false): no read for it.
if opts.read_extras and task.has_extras ~= false then extras = redis.call('GET', KEYS[8]) end
if opts.drop then
  if held then
    redis.call('SREM', KEYS[6] .. heldLease.runner_id, id)
    redis.call('HDEL', KEYS[4], id)
  end
  redis.call('ZREM', KEYS[5], id)
elseif opts.take then
  -- A waiting task holds no lease (every requeue drops it), so no verdict can be pending on it.
  local lease = opts.take.lease
  if opts.next_attempt then lease.attempt = task.attempt end
  lease.stop = false
  if limit then lease.limit = limit end
  if opts.read_extras then lease.extras = extras ~= false end
  redis.call('HSET', KEYS[4], id, cjson.encode(lease))
  redis.call('ZADD', KEYS[5], now() + opts.take.lease_ms, id)
  redis.call('SADD', KEYS[6] .. opts.take.runner_id, id)
else
  if opts.extend_ms and held then redis.call('ZADD', KEYS[5], 'XX', now() + opts.extend_ms, id) end
  -- Heartbeats answer a stop from the lease, without reading the record.
  if asksStop and heldLease then
    heldLease.stop = true
    redis.call('HSET', KEYS[4], id, cjson.encode(heldLease))
  end
end

-- A lease that saw no extras at its claim spares the DEL (extras are written only at creation).
if opts.drop_extras and not (heldLease and heldLease.extras == false) then redis.call('DEL', KEYS[8]) end

-- Live views, dashboards and parked long-polls (a final task frees its runner's slot) listen here.
if ARGV[5] ~= '' then
  local event = {type = 'task', id = task.id, project_id = task.project_id, status = s}
  if final(s) then event.runner_id = task.runner_id end
  redis.call('PUBLISH', ARGV[5], cjson.encode(event))
end
-- The after-task hooks' read, here rather than in a round trip of its own after the move.
local after = false
if opts.read_after then after = {redis.call('GET', KEYS[9] .. id)} end
return {'ok', out, held or false, limit, extras, after}
