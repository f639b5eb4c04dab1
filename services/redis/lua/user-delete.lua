--[[
  Deletes a user's record and frees its login and e-mail address in the indexes, in one step, if
  the record is still the one the caller read (and took the names from): a rename that landed
  just before, on this server or another, makes the caller read it again, so its new name is
  freed too rather than left in the index, naming a user that is gone.

  KEYS[1] the login index (lower-case login -> id)
  KEYS[2] the e-mail index (lower-case address -> id)
  KEYS[3] the users hash (id -> JSON)

  ARGV[1] the user's id
  ARGV[2] the record's JSON as the caller read it
  ARGV[3] its login, lower-case
  ARGV[4] its e-mail address, lower-case ('' for none)

  Returns 'changed' when the record is no longer the one read (nothing deleted), else 'ok'.
]]
local id = ARGV[1]
if redis.call('HGET', KEYS[3], id) ~= ARGV[2] then return 'changed' end
-- Only entries still this user's: a name given up and taken by another user stays theirs.
for i, name in ipairs({ ARGV[3], ARGV[4] }) do
  if name ~= '' and redis.call('HGET', KEYS[i], name) == id then redis.call('HDEL', KEYS[i], name) end
end
redis.call('HDEL', KEYS[3], id)
return 'ok'
