--[[
  Whether a runner holds the lease of a task attempt, optionally extending it. Only the
  watchdog's verdict takes a lease away: one the watchdog is judging is not held any more, one
  whose expiry has passed but that no pass has judged yet still is (the judge has not spoken).

  KEYS[1] leases hash (a lease being judged says `judged`)
  KEYS[2] lease expiry zset

  ARGV[1] task id
  ARGV[2] runner id
  ARGV[3] attempt
  ARGV[4] lease length (ms) to extend by from now, or 0 to leave it

  Returns the lease JSON when held, else false.
]]
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return false end
local lease = cjson.decode(raw)
if lease.runner_id ~= tonumber(ARGV[2]) or lease.attempt ~= tonumber(ARGV[3]) or lease.judged then return false end
if tonumber(ARGV[4]) > 0 then
  local t = redis.call('TIME')
  redis.call('ZADD', KEYS[2], 'XX', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[4]), ARGV[1])
end
return raw
