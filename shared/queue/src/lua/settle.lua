-- What an agent does with a case it was offered or holds, or what the record decided.
-- KEYS[1] tenant prefix; ARGV action (accept | reject | transfer | forget), agent_id, case_id, queue
-- accept: offered -> assigned. reject: back to its queue in its original place, never re-offered
-- to this agent. transfer: to the named queue, same place. forget (the record resolved it):
-- gone from its queue, its agent's load and every timer, whoever held it.
-- Returns ok, or not_held when the agent neither was offered nor holds the case (forget: when
-- Redis did not know the case).
local p, action, agent, c = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local ckey = p .. 'case:' .. c
local state = redis.call('HGET', ckey, 'state')
local holder = redis.call('HGET', ckey, 'agent')
if action == 'forget' then
  redis.call('ZREM', p .. 'leases', c)
  redis.call('ZREM', p .. 'sticky', c)
  if not state then return 'not_held' end
  local queue = redis.call('HGET', ckey, 'queue')
  if queue then redis.call('ZREM', p .. 'q:' .. queue, c) end
  if holder then redis.call('SREM', p .. 'agent:' .. holder .. ':cases', c) end
  redis.call('DEL', ckey, ckey .. ':rejected')
  return 'ok'
end
local held = (state == 'offered' or state == 'assigned') and holder == agent
if action == 'transfer' and agent == '' and state == 'queued' then
  local old = redis.call('HGET', ckey, 'queue')
  redis.call('ZREM', p .. 'q:' .. old, c)
  redis.call('HSET', ckey, 'queue', ARGV[4])
  redis.call('ZADD', p .. 'q:' .. ARGV[4], redis.call('HGET', ckey, 'score'), c)
  redis.call('SADD', p .. 'queues', ARGV[4])
  return 'ok'
end
if not held then
  return 'not_held'
end
if action == 'accept' then
  if state ~= 'offered' then return 'not_held' end
  redis.call('HSET', ckey, 'state', 'assigned')
  redis.call('HDEL', ckey, 'lease_until')
  redis.call('ZREM', p .. 'leases', c)
  return 'ok'
end
redis.call('SREM', p .. 'agent:' .. agent .. ':cases', c)
redis.call('ZREM', p .. 'leases', c)
redis.call('ZREM', p .. 'sticky', c)
if action == 'reject' then
  redis.call('SADD', ckey .. ':rejected', agent)
end
local queue = redis.call('HGET', ckey, 'queue')
if action == 'transfer' then
  queue = ARGV[4]
  redis.call('SADD', p .. 'queues', queue)
end
redis.call('HSET', ckey, 'state', 'queued', 'queue', queue)
redis.call('HDEL', ckey, 'agent', 'lease_until')
redis.call('ZADD', p .. 'q:' .. queue, redis.call('HGET', ckey, 'score'), c)
return 'ok'
