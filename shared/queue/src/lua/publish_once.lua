-- Appends an event to a stream once per event id, so a publisher that crashed after XADD and
-- before recording it can publish again without a watcher seeing the event twice.
-- KEYS[1] stream, KEYS[2] marker of the event id; ARGV payload, max length, marker ttl (s)
-- Returns the stream id of the event.
local id = redis.call('GET', KEYS[2])
if id then
  return id
end
id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'payload', ARGV[1])
redis.call('SET', KEYS[2], id, 'EX', ARGV[3])
return id
