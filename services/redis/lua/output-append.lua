--[[
  Appends a batch of a runner's numbered lines to a task's output stream. The runner numbers its
  lines from 1 in each attempt; stored lines are numbered on from where the previous attempt
  stopped (stream id <base + seq>-0), so a requeued task keeps the lines of its first attempt.
  A line whose number is not above the last stored one is a resend and is dropped, so runners
  can resend freely after a lost answer. Past `cap` bytes the stream gets one truncation notice
  and later lines are acknowledged but not kept. Server notices never take a line number (see
  output-notice.lua).

  KEYS[1] the output stream
  KEYS[2] the output meta hash (last_seq, bytes, truncated, attempt, base)

  ARGV[1] cap in bytes
  ARGV[2] attempt the lines belong to
  ARGV[3] channel to announce on ('' for none)
  ARGV[4] message: published when lines were added, or always when ARGV[5] is '1'
  ARGV[5] '1': publish even when no line was added (the caller's task event)
  ARGV[6..] seq, time, text, seq, time, text, ...

  Returns {highest line number acknowledged (the runner's numbering), lines added}.
]]
local meta = redis.call('HMGET', KEYS[2], 'last_seq', 'bytes', 'truncated', 'attempt', 'base')
local last = tonumber(meta[1] or '0')
local bytes = tonumber(meta[2] or '0')
local truncated = meta[3] == '1'
local current = tonumber(meta[4] or '0')
local base = tonumber(meta[5] or '0')
local cap = tonumber(ARGV[1])
local attempt = tonumber(ARGV[2])
if attempt < current then return {0, 0} end
local newAttempt = attempt > current
if newAttempt then base = last end
local added = 0
for i = 6, #ARGV, 3 do
  local seq = base + tonumber(ARGV[i])
  local time = ARGV[i + 1]
  local text = ARGV[i + 2]
  if seq > last then
    if not truncated then
      if bytes + #text > cap then
        truncated = true
        redis.call('XADD', KEYS[1], tostring(last) .. '-*', 't', time, 'o', '[forge] output truncated: this task wrote more than ' .. cap .. ' bytes (max_output_bytes); later lines were dropped')
        redis.call('HSET', KEYS[2], 'truncated', '1')
      else
        redis.call('XADD', KEYS[1], tostring(seq) .. '-0', 't', time, 'o', text)
        bytes = bytes + #text
        added = added + 1
      end
    end
    last = seq
  end
end
if newAttempt then
  redis.call('HSET', KEYS[2], 'last_seq', last, 'bytes', bytes, 'attempt', attempt, 'base', base)
else
  redis.call('HSET', KEYS[2], 'last_seq', last, 'bytes', bytes)
end
-- Live views read new lines on any event of the task: announced in this same step.
if ARGV[3] ~= '' and (added > 0 or ARGV[5] == '1') then redis.call('PUBLISH', ARGV[3], ARGV[4]) end
return {last - base, added}
