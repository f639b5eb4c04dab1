--[[
  Writes a user's record and claims its login and e-mail address in the indexes, in one step: two
  creates (or renames) of the same login at once, on one server or two replicas, cannot both pass
  the check and leave two users behind one name.

  KEYS[1] the login index (lower-case login -> id)
  KEYS[2] the e-mail index (lower-case address -> id)
  KEYS[3] the users hash (id -> JSON)

  ARGV[1] the user's id
  ARGV[2] its login, lower-case
  ARGV[3] its e-mail address, lower-case ('' for none)
  ARGV[4] its login before this write, lower-case ('' for a new user)
  ARGV[5] its e-mail address before this write, lower-case ('' for none)
  ARGV[6] the record's JSON
  ARGV[7] the record's JSON as the caller read it before changing it ('' for a new user)

  Returns 'login' or 'email' when another user holds that name, 'changed' when the record is no
  longer the one read (another change landed: the caller makes its change anew), nothing written
  in either case; else 'ok'.
]]
local id = ARGV[1]
if (redis.call('HGET', KEYS[3], id) or '') ~= ARGV[7] then return 'changed' end
local holder = redis.call('HGET', KEYS[1], ARGV[2])
if holder and holder ~= id then return 'login' end
if ARGV[3] ~= '' then
  holder = redis.call('HGET', KEYS[2], ARGV[3])
  if holder and holder ~= id then return 'email' end
end
-- A name this user gives up is freed only if it is still this user's.
if ARGV[4] ~= '' and ARGV[4] ~= ARGV[2] and redis.call('HGET', KEYS[1], ARGV[4]) == id then
  redis.call('HDEL', KEYS[1], ARGV[4])
end
if ARGV[5] ~= '' and ARGV[5] ~= ARGV[3] and redis.call('HGET', KEYS[2], ARGV[5]) == id then
  redis.call('HDEL', KEYS[2], ARGV[5])
end
redis.call('HSET', KEYS[1], ARGV[2], id)
if ARGV[3] ~= '' then redis.call('HSET', KEYS[2], ARGV[3], id) end
redis.call('HSET', KEYS[3], id, ARGV[6])
return 'ok'
