--[[
  Takes the head of a queue and moves its task to its claim, in one step: queue-claim.lua, then
  task-transition.lua on the task it took. For a single Redis only: on a Cluster the queue (its
  own hash slot) and the task record ({forge}) are apart, and the claim is the two scripts in
  turn. The scripts module composes both files in ahead of this one, as the local functions
  claim(KEYS, ARGV) and transition(KEYS, ARGV).

  KEYS[1], KEYS[2]   queue-claim's (the queue's waiting and active zsets)
  KEYS[3] .. [11]    task-transition's, but KEYS[3] (the record) and KEYS[10] (the extras) are
                     prefixes: the task id taken is appended

  ARGV[1]            queue-claim's (now, ms)
  ARGV[2] .. [6]     task-transition's

  Returns {'empty'} when the queue is empty, else {task id, tasks still waiting, the reply of
  task-transition}.
]]
local head = claim({KEYS[1], KEYS[2]}, {ARGV[1]})
if not head then return {'empty'} end
local id = head[1]
local moved = transition(
  {KEYS[3] .. id, KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10] .. id, KEYS[11]},
  {ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]})
return {id, head[2], moved}
