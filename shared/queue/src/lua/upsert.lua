-- Queues a case, or re-scores it in place. A case offered to or held by an agent stays with that
-- agent (stickiness); only its priority and score change.
-- KEYS[1] tenant prefix; ARGV case_id, queue, score, priority, language, enqueued_at_ms
local p, c = KEYS[1], ARGV[1]
local ckey = p .. 'case:' .. c
local state = redis.call('HGET', ckey, 'state')
if state == 'offered' or state == 'assigned' then
  redis.call('HSET', ckey, 'priority', ARGV[4], 'score', ARGV[3], 'language', ARGV[5])
  return state
end
local old = redis.call('HGET', ckey, 'queue')
if old and old ~= ARGV[2] then
  redis.call('ZREM', p .. 'q:' .. old, c)
end
redis.call('HSET', ckey, 'queue', ARGV[2], 'score', ARGV[3], 'priority', ARGV[4], 'language', ARGV[5],
  'state', 'queued', 'enqueued_at', ARGV[6])
redis.call('ZADD', p .. 'q:' .. ARGV[2], ARGV[3], c)
redis.call('SADD', p .. 'queues', ARGV[2])
return 'queued'
