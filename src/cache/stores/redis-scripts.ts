// Lua run inside Redis so that a value and its tag sets change in one round trip.
// Tag sets live as long as their longest-lived member (a no-TTL member makes them persistent).
// A chunked value is a hash {m: meta, c: name of its chunk hash}; each write has its own chunk
// hash, so a reader streaming the old chunks is never mixed up with a newer write. When a value is
// replaced or deleted its chunks are retired: kept for a short while (ARGV linger) for readers in
// flight, then expired by Redis.

/** Lua: retire(vkey, lingerMs) expires the chunk hash of the chunked value at vkey, if any. */
const RETIRE = `
local function retire(vkey, linger)
  if redis.call('TYPE', vkey).ok ~= 'hash' then return end
  local c = redis.call('HGET', vkey, 'c')
  if not c then return end
  local t = redis.call('PTTL', c)
  if t == -1 or t > linger then redis.call('PEXPIRE', c, linger) end
end
`;

/** KEYS[1] value, KEYS[2..] tag sets; ARGV[1] frame, ARGV[2] px (0 = none), ARGV[3] member, ARGV[4] linger. */
export const SET_TAGGED = `${RETIRE}
retire(KEYS[1], tonumber(ARGV[4]))
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

/** KEYS[1] tag set; ARGV[1] value-key prefix, ARGV[2] linger. Deletes every member and the set; returns the count. */
export const INVALIDATE_TAG = `${RETIRE}
local members = redis.call('SMEMBERS', KEYS[1])
for _, m in ipairs(members) do
  retire(ARGV[1] .. m, tonumber(ARGV[2]))
  redis.call('DEL', ARGV[1] .. m)
end
redis.call('DEL', KEYS[1])
return #members`;

/** KEYS[1] value. A string key is a whole frame; a hash is a chunked value: {meta, chunk hash name}. */
export const GET_ENTRY = `
local t = redis.call('TYPE', KEYS[1]).ok
if t == 'string' then return redis.call('GET', KEYS[1]) end
if t == 'hash' then return {redis.call('HGET', KEYS[1], 'm'), redis.call('HGET', KEYS[1], 'c')} end
return false`;

/** KEYS[1] value; ARGV[1] linger. Deletes it (its chunks linger for readers in flight). */
export const DELETE_ENTRY = `${RETIRE}
retire(KEYS[1], tonumber(ARGV[1]))
return redis.call('DEL', KEYS[1])`;

/** KEYS[1] value, KEYS[2] chunk hash. Deletes both only while the value still points at those chunks. */
export const DELETE_IF_CHUNKS = `
if redis.call('TYPE', KEYS[1]).ok ~= 'hash' or redis.call('HGET', KEYS[1], 'c') ~= KEYS[2] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
return 1`;

/** KEYS[1] chunk hash (written), KEYS[2] value, KEYS[3..] tag sets; ARGV[1] px, ARGV[2] member, ARGV[3] meta, ARGV[4] linger. */
export const COMMIT_CHUNKED = `${RETIRE}
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
retire(KEYS[2], tonumber(ARGV[4]))
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'm', ARGV[3], 'c', KEYS[1])
local px = tonumber(ARGV[1])
if px > 0 then
  redis.call('PEXPIRE', KEYS[2], px)
  redis.call('PEXPIRE', KEYS[1], px)
else
  redis.call('PERSIST', KEYS[2])
  redis.call('PERSIST', KEYS[1])
end
for i = 3, #KEYS do
  local existed = redis.call('EXISTS', KEYS[i])
  redis.call('SADD', KEYS[i], ARGV[2])
  local t = redis.call('PTTL', KEYS[i])
  if px <= 0 then redis.call('PERSIST', KEYS[i])
  elseif existed == 0 or (t >= 0 and t < px) then redis.call('PEXPIRE', KEYS[i], px) end
end
return 1`;
