-- Follow-ups wait for the agent who holds their case only so long: a case whose owner did not
-- answer by the deadline goes back to its queue, in its original place, for anyone.
-- KEYS[1] tenant prefix; ARGV now_ms, limit. Returns a flat list case_id, agent_id, ...
local p = KEYS[1]
local due = redis.call('ZRANGEBYSCORE', p .. 'sticky', '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local out = {}
for _, c in ipairs(due) do
  local ckey = p .. 'case:' .. c
  redis.call('ZREM', p .. 'sticky', c)
  if redis.call('HGET', ckey, 'state') == 'assigned' then
    local agent = redis.call('HGET', ckey, 'agent') or ''
    local queue = redis.call('HGET', ckey, 'queue')
    redis.call('HSET', ckey, 'state', 'queued')
    redis.call('HDEL', ckey, 'agent')
    redis.call('ZADD', p .. 'q:' .. queue, redis.call('HGET', ckey, 'score'), c)
    if agent ~= '' then
      redis.call('SREM', p .. 'agent:' .. agent .. ':cases', c)
    end
    table.insert(out, c)
    table.insert(out, agent)
  end
end
return out
