// Lua run inside Redis so that a value and its tag sets change in one round trip.
// Tag sets live as long as their longest-lived member (a no-TTL member makes them persistent).

/** KEYS[1] value, KEYS[2..] tag sets; ARGV[1] frame, ARGV[2] px (0 = none), ARGV[3] member. */
export const SET_TAGGED = `
local px = tonumber(ARGV[2])
if px > 0 then redis.call('SET', KEYS[1], ARGV[1], 'PX', px) else redis.call('SET', KEYS[1], ARGV[1]) end
for i = 2, #KEYS do
  local existed = redis.call('EXISTS', KEYS[i])
  redis.call('SADD', KEYS[i], ARGV[3])
  local t = redis.call('PTTL', KEYS[i])
  if px <= 0 then redis.call('PERSIST', KEYS[i])
  elseif existed == 0 or (t >= 0 and t < px) then redis.call('PEXPIRE', KEYS[i], px) end
end
return 1`;

/** KEYS[1] tag set; ARGV[1] value-key prefix. Deletes every member and the set; returns the count. */
export const INVALIDATE_TAG = `
local members = redis.call('SMEMBERS', KEYS[1])
for _, m in ipairs(members) do redis.call('DEL', ARGV[1] .. m) end
redis.call('DEL', KEYS[1])
return #members`;

/** KEYS[1] value. A string key is a whole frame; a hash is a chunked value whose field m is its meta. */
export const GET_ENTRY = `
local t = redis.call('TYPE', KEYS[1]).ok
if t == 'string' then return redis.call('GET', KEYS[1]) end
if t == 'hash' then return {redis.call('HGET', KEYS[1], 'm')} end
return false`;

/** KEYS[1] temp hash, KEYS[2] value, KEYS[3..] tag sets; ARGV[1] px, ARGV[2] member. */
export const COMMIT_CHUNKED = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('RENAME', KEYS[1], KEYS[2])
local px = tonumber(ARGV[1])
if px > 0 then redis.call('PEXPIRE', KEYS[2], px) else redis.call('PERSIST', KEYS[2]) end
for i = 3, #KEYS do
  local existed = redis.call('EXISTS', KEYS[i])
  redis.call('SADD', KEYS[i], ARGV[2])
  local t = redis.call('PTTL', KEYS[i])
  if px <= 0 then redis.call('PERSIST', KEYS[i])
  elseif existed == 0 or (t >= 0 and t < px) then redis.call('PEXPIRE', KEYS[i], px) end
end
return 1`;
