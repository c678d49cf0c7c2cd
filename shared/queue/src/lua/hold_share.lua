-- Takes or renews one holder's fair share of a group of leases: the group's live members (those
-- that asked within a time to live) split the leases asked for, each holding at most its share
-- rounded up. What the holder holds beyond its share (a member joined) it gives up, so the
-- newcomer finds it free. The members' clock is Redis's own: one clock for every replica.
-- KEYS[1] the group's members (sorted set, score = when the member lapses); KEYS[2..] the leases
-- (one hash tag, so one cluster slot). ARGV[1] holder, ARGV[2] time to live (ms).
-- Answers, per lease, 1 when the holder holds it now and 0 otherwise.
local holder, ttl = ARGV[1], tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + ttl, holder)
redis.call('PEXPIRE', KEYS[1], ttl)
local members = redis.call('ZCARD', KEYS[1])
local share = math.ceil((#KEYS - 1) / members)
local held, count = {}, 0
for i = 2, #KEYS do
  held[i - 1] = 0
  if redis.call('GET', KEYS[i]) == holder then
    if count < share then
      redis.call('PEXPIRE', KEYS[i], ttl)
      held[i - 1] = 1
      count = count + 1
    else
      redis.call('DEL', KEYS[i])
    end
  end
end
for i = 2, #KEYS do
  if count >= share then
    break
  end
  if held[i - 1] == 0 and redis.call('SET', KEYS[i], holder, 'PX', ttl, 'NX') then
    held[i - 1] = 1
    count = count + 1
  end
end
return held
