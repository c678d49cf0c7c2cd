-- A key's token bucket, one per service, shared by the service's replicas: refilled at ARGV[1]
-- tokens a second and holding one second of them. It first takes back ARGV[3] tokens a replica
-- took earlier and did not spend, then gives ARGV[2] tokens when at least one is there (a batch
-- may overdraw it, and the key then waits its debt out), none otherwise. Time is Redis's own
-- clock, so replicas on machines whose clocks differ count the same seconds.
-- KEYS[1] the bucket. Answers the tokens given: ARGV[2] or 0.
local rate, want, unspent = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(state[1]) or rate, tonumber(state[2]) or now
tokens = math.min(rate, tokens + (now - at) * rate / 1000 + unspent)
local given = 0
if tokens >= 1 then
  tokens = tokens - want
  given = want
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
-- Once it has had time to fill up again it is as good as new: forget it.
redis.call('PEXPIRE', KEYS[1], math.ceil((rate - tokens) * 1000 / rate) + 1000)
return given
