// Lua run inside Redis so that a value and its tag sets change in one round trip.
// A tag is a sorted set of keys scored by their expiry (Redis server time, ms; +inf = none): each
// add first prunes a bounded number of expired members, so a tag holds about its live keys, and
// the set itself expires with its longest-lived member. Invalidation detaches the set (RENAME)
// and deletes its members in batches, one bounded script call each. A tag key of another type is
// never an error (it would fail every write with the tag, and open the breaker for every caller): a
// plain set (how an older headroom wrote tags) is converted, its members kept; anything else at a
// tag key is not ours, and is replaced by a new tag set, reported to the caller to log (as for the
// clear epoch, below).
// A chunked value is a hash {m: meta, c: name of its chunk hash}; each write has its own chunk
// hash, so a reader streaming the old chunks is never mixed up with a newer write. When a value is
// replaced or deleted its chunks are retired: kept for a short while (ARGV linger) for readers in
// flight, then expired by Redis.
// A chunked write in flight is fenced against invalidations: its chunk hash holds the clear epoch
// it began under (field e, removed at commit) and is listed in pending sets of its key and tags;
// deleting the key or invalidating a tag deletes the listed hashes still in flight, a clear bumps
// the epoch, and the commit refuses a hash that is gone or from an older epoch.

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

/**
 * Lua: kill(pending) deletes the chunk hashes of writes in flight listed in a pending set, and the
 * set. A pending key of another type (another tool wrote it) lists nothing of ours: it is deleted,
 * never an error (which would fail every delete of the key, or invalidation of the tag, for good).
 */
const KILL = `
local function kill(pending)
  if redis.call('TYPE', pending).ok == 'zset' then
    for _, c in ipairs(redis.call('ZRANGE', pending, 0, -1)) do
      if redis.call('TYPE', c).ok == 'hash' and redis.call('HEXISTS', c, 'e') == 1 then redis.call('DEL', c) end
    end
  end
  redis.call('DEL', pending)
end
`;

/**
 * Lua: epochOf(key) reads the clear epoch: '0' when unset, '!' when another tool made the key
 * another type (GET fails with WRONGTYPE). Writes only compare it for equality, so chunked writes
 * go on under such a key, and the next clear (BUMP_EPOCH) replaces it and fences them as usual.
 */
const EPOCH_OF = `
local function epochOf(k)
  local ok, v = pcall(redis.call, 'GET', k)
  if not ok then return '!' end
  return v or '0'
end
`;

/**
 * KEYS[1] clear epoch; ARGV[1] a fresh random integer. Bumps the epoch (INCR); when INCR cannot
 * (another tool set the key to something else: not an integer, out of range, another type), the
 * epoch becomes ARGV[1] instead. Writes compare the epoch for equality only, so any value that
 * none of them began under fences them; a random 2^47..2^48 one is that (counted epochs stay small).
 * The new number; or {-1, INCR's error} when the epoch was replaced.
 */
export const BUMP_EPOCH = `
local ok, n = pcall(redis.call, 'INCR', KEYS[1])
if ok then return n end
redis.call('SET', KEYS[1], ARGV[1])
return {-1, type(n) == 'table' and n.err or tostring(n)}`;

/**
 * KEYS[1] new chunk hash, KEYS[2] clear epoch, KEYS[3..] pending sets (the key's, each tag's);
 * ARGV[1] ttl. Starts a chunked write: the hash expires by itself if the writer dies, pending
 * sets are scored by expiry (expired members pruned on add) and expire with their last member.
 */
export const BEGIN_CHUNKED = `${EPOCH_OF}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
redis.call('HSET', KEYS[1], 'e', epochOf(KEYS[2]))
redis.call('PEXPIRE', KEYS[1], ttl)
for i = 3, #KEYS do
  local kind = redis.call('TYPE', KEYS[i]).ok
  if kind ~= 'zset' and kind ~= 'none' then redis.call('DEL', KEYS[i]) end
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', '(' .. now)
  redis.call('ZADD', KEYS[i], now + ttl, KEYS[1])
  redis.call('PEXPIRE', KEYS[i], ttl)
end
return 1`;

/**
 * KEYS[1] chunk hash; ARGV[1] field, ARGV[2] chunk. 0 (nothing written) when the write was stopped
 * or its hash expired: writing then would recreate the hash without a TTL.
 */
export const ADD_CHUNK = `
if redis.call('HEXISTS', KEYS[1], 'e') == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1`;

/** Most expired members pruned from one tag per add. */
export const PRUNE_LIMIT = 64;

/**
 * Lua: tagSet(k, now) makes sure the tag key k is a sorted set (or nothing) before it is added to.
 * A plain set, as an older headroom wrote tags, becomes a sorted set with the same members, scored
 * by the old set's own expiry (+inf without one): a member is then pruned, and keeps the set
 * alive, exactly as long as the old set would have kept it. Any other type is not a tag set (another
 * tool wrote to the cache's key): it is deleted and {k, type} returned, for the caller to log;
 * nothing otherwise. O(members) once, for a plain set; one TYPE call for a sorted set.
 */
const TAG_SET = `
local function tagSet(k, now)
  local kind = redis.call('TYPE', k).ok
  if kind == 'zset' or kind == 'none' then return nil end
  if kind == 'set' then
    local left = redis.call('PTTL', k)
    local score = '+inf'
    if left >= 0 then score = now + left end
    redis.call('ZUNIONSTORE', k, 1, k, 'WEIGHTS', score)
    return nil
  end
  redis.call('DEL', k)
  return {k, kind}
end
`;

/**
 * Lua: addTags(first, member, px) adds member to the tag sets KEYS[first..] (see above). Returns
 * the keys of another type it replaced, as a flat list {key, type, …} (usually empty).
 */
const ADD_TAGS = `${TAG_SET}
local function addTags(first, member, px)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local score = '+inf'
  if px > 0 then score = now + px end
  local replaced = {}
  for i = first, #KEYS do
    local k = KEYS[i]
    local was = tagSet(k, now)
    if was then
      replaced[#replaced + 1] = was[1]
      replaced[#replaced + 1] = was[2]
    end
    local gone = redis.call('ZRANGEBYSCORE', k, '-inf', '(' .. now, 'LIMIT', 0, ${PRUNE_LIMIT})
    if #gone > 0 then redis.call('ZREM', k, unpack(gone)) end
    redis.call('ZADD', k, score, member)
    local top = redis.call('ZRANGE', k, -1, -1, 'WITHSCORES')
    local last = tonumber(top[2])
    if last == nil or last == math.huge then redis.call('PERSIST', k) else redis.call('PEXPIREAT', k, last) end
  end
  return replaced
end
`;

/**
 * KEYS[1] value, KEYS[2..] tag sets; ARGV[1] frame, ARGV[2] px (0 = none), ARGV[3] member, ARGV[4] linger.
 * Returns addTags's list of replaced keys {key, type, …} (usually empty).
 */
export const SET_TAGGED = `${RETIRE}${ADD_TAGS}
retire(KEYS[1], tonumber(ARGV[4]))
local px = tonumber(ARGV[2])
if px > 0 then redis.call('SET', KEYS[1], ARGV[1], 'PX', px) else redis.call('SET', KEYS[1], ARGV[1]) end
return addTags(2, ARGV[3], px)`;

/**
 * KEYS[1] tag set, KEYS[2] a fresh private name, KEYS[3] the tag's pending set. Stops the tag's
 * writes in flight, then moves the set aside (later adds start a new set), with an hour's TTL in
 * case the invalidation stops half way. 1 when there was a set, 0 when there was none. A plain set
 * (an older headroom's) is moved aside as a sorted set, its members to be drained like any; a key
 * of another type (not a tag set: no members to delete) is deleted and its type returned, to be logged.
 */
export const DETACH_TAG = `${KILL}
kill(KEYS[3])
local kind = redis.call('TYPE', KEYS[1]).ok
if kind == 'none' then return 0 end
if kind == 'set' then
  redis.call('ZUNIONSTORE', KEYS[2], 1, KEYS[1])
  redis.call('DEL', KEYS[1])
elseif kind == 'zset' then
  redis.call('RENAME', KEYS[1], KEYS[2])
else
  redis.call('DEL', KEYS[1])
  return kind
end
redis.call('PEXPIRE', KEYS[2], 3600000)
return 1`;

/** KEYS[1] detached tag set; ARGV[1] value-key prefix, ARGV[2] batch size, ARGV[3] linger. Deletes one batch of members; returns how many are left. */
export const DRAIN_TAG = `${RETIRE}
local members = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1)
if #members > 0 then redis.call('ZREM', KEYS[1], unpack(members)) end
for _, m in ipairs(members) do
  retire(ARGV[1] .. m, tonumber(ARGV[3]))
  redis.call('DEL', ARGV[1] .. m)
end
return redis.call('ZCARD', KEYS[1])`;

/**
 * KEYS[1] value; ARGV[1] the longest frame a write makes. A string key is a whole frame; a hash is a
 * chunked value: {meta, chunk hash name}. Not ours, and not read: a string longer than any frame
 * (its length is returned), or another type (-1).
 */
export const GET_ENTRY = `
local t = redis.call('TYPE', KEYS[1]).ok
if t == 'string' then
  local n = redis.call('STRLEN', KEYS[1])
  if n > tonumber(ARGV[1]) then return n end
  return redis.call('GET', KEYS[1])
end
if t == 'hash' then return {redis.call('HGET', KEYS[1], 'm'), redis.call('HGET', KEYS[1], 'c')} end
if t == 'none' then return false end
return -1`;

/** KEYS[1] value, KEYS[2] its pending set; ARGV[1] linger. Stops its writes in flight, deletes it (its chunks linger for readers in flight). */
export const DELETE_ENTRY = `${RETIRE}${KILL}
kill(KEYS[2])
retire(KEYS[1], tonumber(ARGV[1]))
return redis.call('DEL', KEYS[1])`;

/** KEYS[1] value, KEYS[2] chunk hash. Deletes both only while the value still points at those chunks. */
export const DELETE_IF_CHUNKS = `
if redis.call('TYPE', KEYS[1]).ok ~= 'hash' or redis.call('HGET', KEYS[1], 'c') ~= KEYS[2] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
return 1`;

/**
 * KEYS[1] chunk hash (written), KEYS[2] value, KEYS[3] clear epoch, KEYS[4..3+n] the write's
 * pending sets, then tag sets; ARGV[1] px, ARGV[2] member, ARGV[3] meta, ARGV[4] linger, ARGV[5] n.
 * Leaves the pending sets; 0 (nothing stored) when an invalidation stopped the write, else
 * addTags's list of replaced keys {key, type, …} (usually empty).
 */
export const COMMIT_CHUNKED = `${RETIRE}${ADD_TAGS}${EPOCH_OF}
local n = tonumber(ARGV[5])
for i = 4, 3 + n do
  if redis.call('TYPE', KEYS[i]).ok == 'zset' then redis.call('ZREM', KEYS[i], KEYS[1]) end
end
if redis.call('HGET', KEYS[1], 'e') ~= epochOf(KEYS[3]) then
  redis.call('DEL', KEYS[1])
  return 0
end
redis.call('HDEL', KEYS[1], 'e')
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
return addTags(4 + n, ARGV[2], px)`;
