-- Takes or renews leases for one holder. A lease is a key holding its holder's id, with a time to
-- live kept by Redis (one clock for every replica, whatever each machine's says).
-- KEYS: the leases (one hash tag, so one cluster slot); ARGV[1] holder, ARGV[2] time to live (ms).
-- Answers, per key, 1 when the holder holds it now (taken or renewed) and 0 when another does.
local held = {}
for i, key in ipairs(KEYS) do
  local current = redis.call('GET', key)
  if current == false then
    redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
    held[i] = 1
  elseif current == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
    held[i] = 1
  else
    held[i] = 0
  end
end
return held
