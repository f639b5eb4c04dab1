--[[
  The watchdog's pass, the one judge of every lease, on Redis's clock (the one clock all
  servers share). If no pass ran for longer than `stall` ms (every server was down or frozen, or
  Redis was), nobody could have heartbeated: every lease gets a full lease from now instead of a
  verdict. Otherwise leases whose expiry has passed are marked as judged in their own JSON
  (`judged`: no heartbeat can renew them now, no report is accepted under them) and answered;
  their expiry moves one lease ahead, so that if this judge dies before its verdict lands, a later
  pass judges them again.

  KEYS[1] lease expiry zset (task id -> expiry ms)
  KEYS[2] leases hash (task id -> lease JSON)
  KEYS[3] time of the last pass (ms)
  KEYS[4] the "heartbeats arrive late" flag: set by a heartbeat that went unanswered for a third
          of a lease (lease-heartbeat.lua), it lives one lease

  ARGV[1] lease length (ms)
  ARGV[2] stall: a longer gap between passes means an outage (ms)
  ARGV[3] at most this many verdicts

  While heartbeats arrive late, the server or Redis is behind (overloaded, or catching up): a
  silent runner cannot be told from one whose beats are still on their way, so leases that ran
  out get another lease instead of a verdict, until beats arrive on time for a lease.

  Returns {graced count, 'outage'} after an outage, {renewed count, 'late'} while heartbeats arrive
  late, else {-1, task id, lease JSON, task id, lease JSON, ...}.
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[1])
local last = tonumber(redis.call('GET', KEYS[3]) or '0')
redis.call('SET', KEYS[3], now)
if now - last > tonumber(ARGV[2]) then
  local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
  for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], now + lease, id) end
  return {#ids, 'outage'}
end
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
if #ids > 0 and redis.call('EXISTS', KEYS[4]) == 1 then
  for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], now + lease, id) end
  return {#ids, 'late'}
end
local out = {-1}
for _, id in ipairs(ids) do
  local raw = redis.call('HGET', KEYS[2], id)
  if raw then
    local held = cjson.decode(raw)
    if not held.judged then
      held.judged = true
      redis.call('HSET', KEYS[2], id, cjson.encode(held))
    end
    redis.call('ZADD', KEYS[1], now + lease, id)
    out[#out + 1] = id
    out[#out + 1] = raw
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
