-- Lets go of the leases one holder holds, so another replica takes them at once instead of
-- waiting out their time to live. KEYS: the leases; ARGV[1] holder. Answers how many it let go.
local released = 0
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    redis.call('DEL', key)
    released = released + 1
  end
end
return released
