--[[
  A line from the server itself (e.g. "runner lost"). It goes after the last line stored so far
  under a sub-number of that line (stream id <last>-<n>, n >= 1), so it never takes a line
  number a runner may still send: later lines of the runner still land, after the notice.

  KEYS[1] the output stream
  KEYS[2] the output meta hash

  ARGV[1] time
  ARGV[2] text

  Returns the stream id of the notice.
]]
local last = tonumber(redis.call('HGET', KEYS[2], 'last_seq') or '0')
return redis.call('XADD', KEYS[1], tostring(last) .. '-*', 't', ARGV[1], 'o', ARGV[2])
