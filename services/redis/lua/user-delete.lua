--[[
  Deletes a user's record and frees its login and e-mail address in the indexes, in one step, from
  the record as Redis holds it: a rename that landed just before (on this server or another) has
  its new name freed too, rather than left in the index, naming a user that is gone.

  KEYS[1] the login index (lower-case login -> id)
  KEYS[2] the e-mail index (lower-case address -> id)
  KEYS[3] the users hash (id -> JSON)

  ARGV[1] the user's id

  Returns 1 when deleted, 0 when there was no such user.
]]
local id = ARGV[1]
local raw = redis.call('HGET', KEYS[3], id)
if not raw then return 0 end
local user = cjson.decode(raw)
-- Only entries still this user's: a name given up and taken by another user stays theirs.
for i, name in ipairs({ user.login, user.email }) do
  if type(name) == 'string' and name ~= '' and redis.call('HGET', KEYS[i], string.lower(name)) == id then
    redis.call('HDEL', KEYS[i], string.lower(name))
  end
end
redis.call('HDEL', KEYS[3], id)
return 1
