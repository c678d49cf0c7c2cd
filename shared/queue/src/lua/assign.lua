-- A supervisor gives a case to an agent: the case leaves its queue (or the agent who had it) and
-- the agent holds it at once. Queue and score stay, so if it goes back, it goes back in its place.
-- KEYS[1] tenant prefix; ARGV case_id, agent_id
-- Returns ok, unknown (Redis does not know the case), unavailable or at_capacity.
local p, c, agent = KEYS[1], ARGV[1], ARGV[2]
local ckey = p .. 'case:' .. c
if redis.call('EXISTS', ckey) == 0 then
  return 'unknown'
end
local akey = p .. 'agent:' .. agent
local holder = redis.call('HGET', ckey, 'agent')
if holder == agent and redis.call('HGET', ckey, 'state') == 'assigned' then
  return 'ok'
end
if redis.call('HGET', akey, 'presence') ~= 'available' then
  return 'unavailable'
end
local capacity = tonumber(redis.call('HGET', akey, 'capacity') or '1')
if holder ~= agent and redis.call('SCARD', akey .. ':cases') >= capacity then
  return 'at_capacity'
end
redis.call('ZREM', p .. 'q:' .. redis.call('HGET', ckey, 'queue'), c)
if holder then
  redis.call('SREM', p .. 'agent:' .. holder .. ':cases', c)
end
redis.call('ZREM', p .. 'leases', c)
redis.call('ZREM', p .. 'sticky', c)
redis.call('HDEL', ckey, 'lease_until')
redis.call('HSET', ckey, 'state', 'assigned', 'agent', agent)
redis.call('SADD', akey .. ':cases', c)
return 'ok'
