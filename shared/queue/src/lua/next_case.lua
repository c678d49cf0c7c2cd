-- Offers an agent the best eligible case across its queues, under a lease, if the agent is
-- available and below capacity. Eligible: in one of the agent's queues, in a language the agent
-- speaks (or of unknown language), not rejected by this agent before.
-- Each queue is read from its head a page at a time, past cases the agent cannot take, until one
-- is found, the queue ends, or max_scan entries were looked at (what bounds the script's time).
-- KEYS[1] tenant prefix; ARGV agent_id, now_ms, lease_ms, page, max_scan
-- Returns {case_id, lease_until_ms} or {status} with status unavailable | at_capacity | empty.
local p, agent = KEYS[1], ARGV[1]
local now, lease, page = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local max_scan = tonumber(ARGV[5])
local akey = p .. 'agent:' .. agent
if redis.call('HGET', akey, 'presence') ~= 'available' then
  return {'unavailable'}
end
local capacity = tonumber(redis.call('HGET', akey, 'capacity') or '1')
if redis.call('SCARD', akey .. ':cases') >= capacity then
  return {'at_capacity'}
end
local skills = cjson.decode(redis.call('HGET', akey, 'skills') or '[]')
local languages = cjson.decode(redis.call('HGET', akey, 'languages') or '[]')
local speaks = {}
for _, l in ipairs(languages) do speaks[l] = true end
local best, best_score, best_queue
for _, q in ipairs(skills) do
  local start, settled = 0, false
  while not settled and start < max_scan do
    local entries = redis.call('ZRANGE', p .. 'q:' .. q, start, start + page - 1, 'WITHSCORES')
    if #entries == 0 then break end
    for i = 1, #entries, 2 do
      local c, score = entries[i], tonumber(entries[i + 1])
      if best_score and score >= best_score then settled = true break end
      local language = redis.call('HGET', p .. 'case:' .. c, 'language') or ''
      local understood = #languages == 0 or language == '' or language == 'und' or speaks[language]
      if understood and redis.call('SISMEMBER', p .. 'case:' .. c .. ':rejected', agent) == 0 then
        best, best_score, best_queue = c, score, q
        settled = true
        break
      end
    end
    start = start + page
  end
end
if not best then
  return {'empty'}
end
local until_ms = now + lease
redis.call('ZREM', p .. 'q:' .. best_queue, best)
redis.call('HSET', p .. 'case:' .. best, 'state', 'offered', 'agent', agent, 'lease_until', until_ms)
redis.call('ZADD', p .. 'leases', until_ms, best)
redis.call('SADD', akey .. ':cases', best)
return {best, tostring(until_ms)}
