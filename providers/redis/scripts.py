"""The Lua scripts the Redis providers run (each one atomic on the server, one round trip).

Key layout, below the provider's prefix ``P``::

    P wf:<id>                 hash: doc (the instance's JSON without its pointers), rev (revision),
                              status (slot 1..4 in STATUS_SLOTS), n (number of pointers), wtok (the
                              last write's token), and per pointer <position> (0..n-1): its JSON
    P idx:runnable            zset: RUNNABLE instances with a next_execution, scored by it (ms)
    P idx:status:<Status>     zset: instances by status, scored by complete_time or create_time (us)
    P sub                     hash: subscription id -> JSON
    P sub:where               hash: subscription id -> the index key it is in
    P idx:sub:<n>:<name>:<key>    zset: subscriptions of (name, key), scored by subscribe_as_of (us)
    P event                   hash: event id -> JSON
    P idx:events              zset: every event, scored by event_time (us)
    P idx:event:<n>:<name>:<key>  zset: events of (name, key), scored by event_time (us)
    P idx:unprocessed         zset: unprocessed events, scored by event_time (us)
    P errors:<workflow id>    list: JSON execution errors
    P queue:<type>            zset: queued ids, scored by P queue:seq (FIFO)
    P lock:<resource>         string: the owner's token, with a PX lease

``<n>`` is the byte length of the event name, so ``("a:b", "c")`` and ``("a", "b:c")`` never share a key.
Scripts touch a few keys they read from storage (a subscription's former index, purged instances) as
well as the ones passed in KEYS: run on one Redis server, or on a cluster with a prefix holding a hash
tag (``"{liteflow}:"``) so that every key lives in one slot.
"""

from __future__ import annotations

#: Upserts subscriptions given as KEYS[first_key..] (their index keys) and ARGV triples from
#: first_arg on: (id, document, score). KEYS[docs]/KEYS[where] are the ``sub`` and ``sub:where`` hashes.
_UPSERT_SUBSCRIPTIONS = """
local function upsert_subscriptions(docs, where, first_key, first_arg)
  local n = (#ARGV - first_arg + 1) / 3
  for i = 0, n - 1 do
    local id = ARGV[first_arg + 3 * i]
    local index = KEYS[first_key + i]
    local previous = redis.call('HGET', KEYS[where], id)
    if previous and previous ~= index then
      redis.call('ZREM', previous, id)
    end
    redis.call('HSET', KEYS[docs], id, ARGV[first_arg + 3 * i + 1])
    redis.call('HSET', KEYS[where], id, index)
    redis.call('ZADD', index, ARGV[first_arg + 3 * i + 2], id)
  end
end
"""

#: Removes the subscriptions whose ids are ARGV[first_arg..last_arg] from the ``sub`` hash KEYS[docs],
#: the ``sub:where`` hash KEYS[where] and the index each one is in.
_TERMINATE_SUBSCRIPTIONS = """
local function terminate_subscriptions(docs, where, first_arg, last_arg)
  for i = first_arg, last_arg do
    local id = ARGV[i]
    local index = redis.call('HGET', KEYS[where], id)
    if index then redis.call('ZREM', index, id) end
    redis.call('HDEL', KEYS[docs], id)
    redis.call('HDEL', KEYS[where], id)
  end
end
"""

#: Compare-and-set of an instance, with its subscriptions and every index, in one step. The instance's
#: own fields and each of its pointers are separate fields of its hash: only the pointers that changed
#: are sent (written 1,000 per HSET, within Lua's unpack limit). The hash's ``n`` is the instance's number
#: of pointers: positions at or past it left by an earlier, longer history are deleted. A create (no
#: expected revision) replaces whatever the hash held.
#: KEYS: 1 instance hash, 2 runnable index, 3..6 status indexes (STATUS_SLOTS order),
#:       7 ``sub`` hash, 8 ``sub:where`` hash, 9.. one index key per subscription.
#: ARGV: 1 expected revision ('' = create, no check), 2 the instance without its pointers, 3 new
#:       revision, 4 status slot, 5 status score, 6 next_execution ('' = not in the runnable index),
#:       7 instance id, 8 the instance's number of pointers, 9 a token new for each write (a write sent
#:       again after a lost answer finds its own token and succeeds), 10 n = how many pointers follow,
#:       11.. n (position, pointer document) pairs,
#:       then m = how many ended subscription ids follow, those m ids,
#:       then (id, document, score) per subscription to store.
#: Returns 1 when stored, 0 on a revision conflict, -1 when the instance does not exist (nothing stored).
SAVE_INSTANCE = (
    _UPSERT_SUBSCRIPTIONS
    + _TERMINATE_SUBSCRIPTIONS
    + """
local current = redis.call('HMGET', KEYS[1], 'rev', 'status', 'n', 'wtok')
if ARGV[1] ~= '' then
  if not current[1] then return -1 end
  if current[1] ~= ARGV[1] then
    if current[1] == ARGV[3] and current[4] == ARGV[9] then return 1 end  -- this very write, sent again
    return 0
  end
else
  redis.call('DEL', KEYS[1])
end
local last = 10 + 2 * tonumber(ARGV[10])
local ended = tonumber(ARGV[last + 1])
terminate_subscriptions(7, 8, last + 2, last + 1 + ended)
upsert_subscriptions(7, 8, 9, last + 2 + ended)
local id = ARGV[7]
local stop = math.min(last, 10 + 1998)
redis.call('HSET', KEYS[1], 'doc', ARGV[2], 'rev', ARGV[3], 'status', ARGV[4], 'n', ARGV[8], 'wtok', ARGV[9],
  unpack(ARGV, 11, stop))
local first = stop + 1
while first <= last do
  stop = math.min(first + 1999, last)
  redis.call('HSET', KEYS[1], unpack(ARGV, first, stop))
  first = stop + 1
end
for position = tonumber(ARGV[8]), tonumber(current[3] or '0') - 1 do
  redis.call('HDEL', KEYS[1], tostring(position))
end
if current[2] ~= ARGV[4] then  -- created, or the status changed: move it to its status index
  if current[2] then
    redis.call('ZREM', KEYS[2 + tonumber(current[2])], id)
  end
  redis.call('ZADD', KEYS[2 + tonumber(ARGV[4])], ARGV[5], id)
end
if ARGV[6] == '' then
  redis.call('ZREM', KEYS[2], id)
else
  redis.call('ZADD', KEYS[2], ARGV[6], id)
end
return 1
"""
)

#: KEYS: 1 ``sub`` hash, 2 ``sub:where`` hash, 3.. index keys; ARGV: (id, document, score) triples.
SAVE_SUBSCRIPTIONS = _UPSERT_SUBSCRIPTIONS + "\nupsert_subscriptions(1, 2, 3, 1)\nreturn 1\n"

#: KEYS: 1 ``sub`` hash, 2 ``sub:where`` hash; ARGV: 1 subscription id.
TERMINATE_SUBSCRIPTION = _TERMINATE_SUBSCRIPTIONS + "\nterminate_subscriptions(1, 2, 1, 1)\nreturn 1\n"

#: Documents of the ids in index KEYS[1] scored within [ARGV[1], ARGV[2]], oldest first, read from the
#: hash KEYS[2]. With KEYS[3] (a zset) also returns, per document, whether its id is in KEYS[3].
#: Returns {documents, flags}.
FETCH_INDEXED = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[2])
local docs, flags = {}, {}
for _, id in ipairs(ids) do
  local doc = redis.call('HGET', KEYS[2], id)
  if doc then
    docs[#docs + 1] = doc
    if KEYS[3] then
      flags[#flags + 1] = redis.call('ZSCORE', KEYS[3], id) and 1 or 0
    end
  end
end
return {docs, flags}
"""

#: KEYS: 1 ``event`` hash, 2 ``idx:events``, 3 the event's (name, key) index, 4 ``idx:unprocessed``;
#: ARGV: 1 event id, 2 document, 3 score (event time, us), 4 '1' if processed. Stores an event with its
#: index entries in one step.
CREATE_EVENT = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
if ARGV[4] == '1' then
  redis.call('ZREM', KEYS[4], ARGV[1])
else
  redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1])
end
return 1
"""

#: KEYS: 1 ``event`` hash, 2 ``idx:unprocessed``; ARGV: 1 event id. Returns {document or false,
#: 1 if unprocessed else 0}.
GET_EVENT = """
local doc = redis.call('HGET', KEYS[1], ARGV[1])
return {doc, redis.call('ZSCORE', KEYS[2], ARGV[1]) and 1 or 0}
"""

#: KEYS: 1 ``idx:events``, 2 ``idx:unprocessed``; ARGV: 1 event id. Puts a known event back in the
#: unprocessed index (with its event time); returns 0 for an unknown id.
MARK_UNPROCESSED = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score then return 0 end
redis.call('ZADD', KEYS[2], score, ARGV[1])
return 1
"""

#: Deletes up to ARGV[2] instances of status index KEYS[1] scored below ARGV[1] ('(<us>'), with their
#: runnable entries (KEYS[2]) and error lists. ARGV[3]/ARGV[4]: the instance and error key prefixes.
#: Returns how many it deleted.
PURGE = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(ids) do
  redis.call('DEL', ARGV[3] .. id, ARGV[4] .. id)
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
end
return #ids
"""

#: KEYS: 1 queue zset, 2 sequence counter; ARGV: the ids, in order. Queues each id at the back unless
#: already queued. Returns how many were queued (for one id: 1 if queued, 0 if it was already there).
QUEUE_PUSH = """
local added = 0
for i = 1, #ARGV do
  if not redis.call('ZSCORE', KEYS[1], ARGV[i]) then
    redis.call('ZADD', KEYS[1], redis.call('INCR', KEYS[2]), ARGV[i])
    added = added + 1
  end
end
return added
"""

#: KEYS: 1 lock key; ARGV: 1 token. Deletes the lock only if this token owns it.
LOCK_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

#: KEYS: 1 lock key; ARGV: 1 token, 2 lease (ms). Extends the lease only if this token still owns it.
LOCK_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
