--[[
  The user a credential belongs to, in one step: a login session (its key holds the user id) or
  an API token (its record in the tokens hash names the user, unless expired). One round trip
  per authenticated request instead of two.

  KEYS[1] the session key, or the API tokens hash
  KEYS[2] the users hash (id -> JSON)

  ARGV[1] '' for a session; the token's hash for an API token

  Returns the user's JSON, or false when the credential is unknown, expired, or its user is gone.
]]
local id
if ARGV[1] == '' then
  id = redis.call('GET', KEYS[1])
  if not id then return false end
else
  local raw = redis.call('HGET', KEYS[1], ARGV[1])
  if not raw then return false end
  local token = cjson.decode(raw)
  if token.expired then return false end
  id = string.format('%d', token.user_id)
end
return redis.call('HGET', KEYS[2], id)
