-- Puts every offer whose lease ran out back in its queue at its original place, and marks the
-- agent who let it lapse away.
-- KEYS[1] tenant prefix; ARGV now_ms, limit. Returns a flat list case_id, agent_id, ...
local p = KEYS[1]
local due = redis.call('ZRANGEBYSCORE', p .. 'leases', '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local out = {}
for _, c in ipairs(due) do
  local ckey = p .. 'case:' .. c
  redis.call('ZREM', p .. 'leases', c)
  if redis.call('HGET', ckey, 'state') == 'offered' then
    local agent = redis.call('HGET', ckey, 'agent') or ''
    local queue = redis.call('HGET', ckey, 'queue')
    redis.call('HSET', ckey, 'state', 'queued')
    redis.call('HDEL', ckey, 'agent', 'lease_until')
    redis.call('ZADD', p .. 'q:' .. queue, redis.call('HGET', ckey, 'score'), c)
    if agent ~= '' then
      redis.call('SREM', p .. 'agent:' .. agent .. ':cases', c)
      redis.call('HSET', p .. 'agent:' .. agent, 'presence', 'away')
    end
    table.insert(out, c)
    table.insert(out, agent)
  end
end
return out
