--[[
  One step of a workflow run, atomic: the run record is replaced only if it is still the version
  the caller read (compare-and-set), so two replicas reacting to two task ends of the same run at
  once cannot lose a change, and a node's start is claimed by exactly one of them.

  KEYS[1] the run record (JSON with a numeric `version`)
  KEYS[2] the set of active run ids

  ARGV[1] the version the caller read
  ARGV[2] the new record (JSON, version one higher)
  ARGV[3] the run id
  ARGV[4] '1' when the run has ended (it leaves the active set)

  Returns 1 when written, 0 when the record changed meanwhile (read again and retry), -1 when it is gone.
]]
local current = redis.call('GET', KEYS[1])
if not current then return -1 end
if tostring(cjson.decode(current).version) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
if ARGV[4] == '1' then
  redis.call('SREM', KEYS[2], ARGV[3])
else
  redis.call('SADD', KEYS[2], ARGV[3])
end
return 1
