--[[
  Replaces one record of a hash only if it is still the one the caller read and changed: two
  changes of one record made at once (two fields, two members of a project, on one server or two
  replicas) cannot both read it and have the second write drop the first's change. A refused
  caller reads the record again and makes its change anew.

  KEYS[1] the records' hash (id -> JSON)

  ARGV[1] the record's id
  ARGV[2] the record's JSON as the caller read it
  ARGV[3] the record's new JSON

  Returns 1 when written, 0 when the record changed (or went) since it was read.
]]
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
