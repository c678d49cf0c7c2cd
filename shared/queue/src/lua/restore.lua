-- Puts a case Redis has lost back from the durable record (after a Redis restart without
-- persistence). A case Redis still knows is left alone: Redis is the fresher of the two.
-- KEYS[1] tenant prefix; ARGV case_id, queue, score, priority, language, enqueued_at_ms, state, agent
-- state is queued or assigned (an offer whose lease was lost is queued again).
local p, c = KEYS[1], ARGV[1]
local ckey = p .. 'case:' .. c
if redis.call('EXISTS', ckey) == 1 then
  return 'kept'
end
redis.call('HSET', ckey, 'queue', ARGV[2], 'score', ARGV[3], 'priority', ARGV[4], 'language', ARGV[5],
  'enqueued_at', ARGV[6], 'state', ARGV[7])
redis.call('SADD', p .. 'queues', ARGV[2])
if ARGV[7] == 'assigned' then
  redis.call('HSET', ckey, 'agent', ARGV[8])
  redis.call('SADD', p .. 'agent:' .. ARGV[8] .. ':cases', c)
else
  redis.call('ZADD', p .. 'q:' .. ARGV[2], ARGV[3], c)
end
return 'restored'
