"""The Lua scripts the Redis providers run (each one atomic on the server, one round trip).

Key layout. ``P`` is the provider's prefix; ``S`` is an instance's (or event's) shard prefix
``P{P<n>.<j>}`` (``n`` = CRC-32 of the id modulo the shard count; ``j`` puts shard n's slot in the n-th
of as many equal slot ranges, see :mod:`.shards`), so that every key a script names is in the hash slot
of one shard::

    S wf:<id>                 hash: doc (the instance's JSON without its pointers), rev (revision),
                              status (slot 1..4 in STATUS_SLOTS), n (number of pointers), wtok (the
                              last write's token), ctl (pending control requests, if any), def and
                              ref (definition id and reference, for the indexes), and per pointer
                              <position> (0..n-1): its JSON
    S errors:<workflow id>    list: JSON execution errors
    S idx:runnable            zset: the shard's RUNNABLE instances with a next_execution, scored by it (ms)
    S idx:status:<Status>     zset: instances by status, scored by complete_time or create_time (us)
    S idx:created             zset: every instance of the shard, scored by create_time (us)
    S idx:created:<Status>    zset: instances by status, scored by create_time (us)
    S idx:def:<definition>    zset: instances of a definition, scored by create_time (us)
    S idx:ref:<reference>     zset: instances with a reference, scored by create_time (us)
    S sub                     hash: subscription id -> JSON (in the shard of its instance)
    S sub:where               hash: subscription id -> the index key it is in
    S idx:sub:<n>:<name>:<key>    zset: subscriptions of (name, key), scored by subscribe_as_of (us)
    S event                   hash: event id -> JSON (in the shard of the event's id)
    S idx:events              zset: the shard's events, scored by event_time (us)
    S idx:event:<n>:<name>:<key>  zset: events of (name, key), scored by event_time (us)
    S idx:unprocessed         zset: unprocessed events, scored by event_time (us)
    P{Pqueue:<type>}          zset: queued ids, scored by ``P{Pqueue:<type>}seq`` (FIFO)
    P{Pschedules}schedule     hash: schedule id -> JSON (with ``...schedule:next``, see .schedules)
    P wait:<key>              zset: a concurrency limit's waiting line
    P lock:<resource>         string: the owner's token, with a PX lease
    P meta:shards             string: the store's shard count (set once, checked by every persistence
                              provider that opens the store; see .meta)

``<n>`` is the byte length of the event name, so ``("a:b", "c")`` and ``("a", "b:c")`` never share a key.
Scripts touch a few keys they read from storage (a subscription's former index, purged instances and
their definition/reference indexes, a purged event's (name, key) index) as well as the ones passed in
KEYS; those are always keys of the same shard, so of the same slot.
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
local function drop_subscription(docs, where, id)
  local index = redis.call('HGET', KEYS[where], id)
  if index then redis.call('ZREM', index, id) end
  redis.call('HDEL', KEYS[docs], id)
  redis.call('HDEL', KEYS[where], id)
end
local function terminate_subscriptions(docs, where, first_arg, last_arg)
  for i = first_arg, last_arg do
    drop_subscription(docs, where, ARGV[i])
  end
end
"""

#: Compare-and-set of an instance, with its subscriptions and every index, in one step. The instance's
#: own fields and each of its pointers are separate fields of its hash: only the pointers that changed
#: are sent (written 1,000 per HSET, within Lua's unpack limit). The hash's ``n`` is the instance's number
#: of pointers: positions at or past it left by an earlier, longer history are deleted. A create (no
#: expected revision) refuses an instance that exists. The hash's ``ctl`` (a pending control request)
#: is never written here, only checked and, when this write applies it, deleted.
#: KEYS: 1 instance hash, 2 runnable index, 3..6 status indexes (STATUS_SLOTS order),
#:       7 ``sub`` hash, 8 ``sub:where`` hash, 9 ``idx:created``, 10..13 ``idx:created:<Status>``
#:       (STATUS_SLOTS order), 14 the definition's index, 15 the reference's index (any key when the
#:       instance has none), 16.. one index key per subscription.
#: ARGV: 1 expected revision ('' = create, no check), 2 the instance without its pointers, 3 new
#:       revision, 4 status slot, 5 status score, 6 next_execution ('' = not in the runnable index),
#:       7 instance id, 8 the instance's number of pointers, 9 a token new for each write (a write sent
#:       again after a lost answer finds its own token and succeeds), 10 the control request this write
#:       applies ('' = none), 11 create_time (us), 12 definition id, 13 '1' if the instance has a
#:       reference else '', 14 the reference, 15 n = how many pointers follow, 16.. n (position, pointer
#:       document) pairs,
#:       then m = how many ended subscription ids follow, those m ids,
#:       then (id, document, score) per subscription to store.
#: Returns 1 when stored, 0 on a revision conflict, -1 when the instance does not exist, -2 when a create
#: finds it exists, or the pending control request (a string) that this write does not apply; nothing is
#: stored unless it returns 1.
SAVE_INSTANCE = (
    _UPSERT_SUBSCRIPTIONS
    + _TERMINATE_SUBSCRIPTIONS
    + """
local current = redis.call('HMGET', KEYS[1], 'rev', 'status', 'n', 'wtok', 'ctl', 'def')
if current[1] and current[1] == ARGV[3] and current[4] == ARGV[9] then return 1 end  -- this write, sent again
if ARGV[1] ~= '' then
  if not current[1] then return -1 end
  if current[1] ~= ARGV[1] then return 0 end
  if current[5] then
    if current[5] ~= ARGV[10] then return current[5] end
    redis.call('HDEL', KEYS[1], 'ctl')
  end
elseif current[1] then
  return -2
end
local last = 15 + 2 * tonumber(ARGV[15])
local ended = tonumber(ARGV[last + 1])
terminate_subscriptions(7, 8, last + 2, last + 1 + ended)
upsert_subscriptions(7, 8, 16, last + 2 + ended)
local id = ARGV[7]
local stop = math.min(last, 15 + 1998)
redis.call('HSET', KEYS[1], 'doc', ARGV[2], 'rev', ARGV[3], 'status', ARGV[4], 'n', ARGV[8], 'wtok', ARGV[9],
  unpack(ARGV, 16, stop))
local first = stop + 1
while first <= last do
  stop = math.min(first + 1999, last)
  redis.call('HSET', KEYS[1], unpack(ARGV, first, stop))
  first = stop + 1
end
for position = tonumber(ARGV[8]), tonumber(current[3] or '0') - 1 do
  redis.call('HDEL', KEYS[1], tostring(position))
end
local unindexed = ARGV[1] == '' or not current[6]  -- created, or stored before the visibility indexes
if unindexed then  -- the visibility indexes that never change
  redis.call('HSET', KEYS[1], 'def', ARGV[12])
  redis.call('ZADD', KEYS[9], ARGV[11], id)
  redis.call('ZADD', KEYS[14], ARGV[11], id)
  if ARGV[13] ~= '' then
    redis.call('HSET', KEYS[1], 'ref', ARGV[14])
    redis.call('ZADD', KEYS[15], ARGV[11], id)
  end
end
if current[2] ~= ARGV[4] or unindexed then  -- created, or the status changed: move it to its status indexes
  if current[2] then
    redis.call('ZREM', KEYS[2 + tonumber(current[2])], id)
    redis.call('ZREM', KEYS[9 + tonumber(current[2])], id)
  end
  redis.call('ZADD', KEYS[2 + tonumber(ARGV[4])], ARGV[5], id)
  redis.call('ZADD', KEYS[9 + tonumber(ARGV[4])], ARGV[11], id)
end
if ARGV[6] == '' then
  redis.call('ZREM', KEYS[2], id)
else
  redis.call('ZADD', KEYS[2], ARGV[6], id)
end
return 1
"""
)

#: KEYS: 1 instance hash; ARGV: 1 the pending control requests expected ('' = none), 2 the new ones.
#: Sets the hash's ``ctl`` from ARGV[1] to ARGV[2] (compare-and-set). Returns 1 when set, 0 when ``ctl``
#: was not ARGV[1], -1 when the instance does not exist.
REQUEST_CONTROL = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if (redis.call('HGET', KEYS[1], 'ctl') or '') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'ctl', ARGV[2])
return 1
"""

#: KEYS: 1 ``sub`` hash, 2 ``sub:where`` hash, 3.. index keys; ARGV: (id, document, score) triples.
SAVE_SUBSCRIPTIONS = _UPSERT_SUBSCRIPTIONS + "\nupsert_subscriptions(1, 2, 3, 1)\nreturn 1\n"

#: KEYS: 1 ``sub`` hash, 2 ``sub:where`` hash; ARGV: 1 subscription id.
TERMINATE_SUBSCRIPTION = _TERMINATE_SUBSCRIPTIONS + "\nterminate_subscriptions(1, 2, 1, 1)\nreturn 1\n"

#: Documents of the ids in indexes scored within [ARGV[1], ARGV[2]], read from hashes beside them: KEYS
#: come in groups of ARGV[3] (2 or 3) keys, one group per shard: the index (a zset), the hash, and with 3
#: a zset whose members are flagged (1 if the id is in it, else 0). Every shard's keys in one call on one
#: server; one call per shard on a cluster (a call names keys of one slot). Oldest first within a group;
#: the caller merges groups. Returns {documents, flags}.
#: read_indexed(index, hash, flagged, low, high, docs, flags): appends to ``docs`` the documents in
#: ``hash`` of the ids scored within [low, high] in the zset ``index``, oldest first, and with a zset
#: ``flagged`` (nil: none) one flag per document to ``flags`` (1 if its id is in ``flagged``, else 0).
_READ_INDEXED = """
local function read_indexed(index, hash, flagged, low, high, docs, flags)
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', index, low, high)) do
    local doc = redis.call('HGET', hash, id)
    if doc then
      docs[#docs + 1] = doc
      if flagged then flags[#flags + 1] = redis.call('ZSCORE', flagged, id) and 1 or 0 end
    end
  end
end
"""

FETCH_INDEXED = (
    _READ_INDEXED
    + """
local size = tonumber(ARGV[3])
local docs, flags = {}, {}
for first = 1, #KEYS, size do
  read_indexed(KEYS[first], KEYS[first + 1], size == 3 and KEYS[first + 2] or nil, ARGV[1], ARGV[2], docs, flags)
end
return {docs, flags}
"""
)

#: What waits for an event and what it may receive, on one server: KEYS come in groups of 5, one per shard:
#: the subscription index of the event's (name, key) and the subscription hash, then the event index of that
#: (name, key), the event hash and the unprocessed index. ARGV: 1 the event's time, 2 until (us). Returns
#: {subscription documents (subscribed up to ARGV[1]), event documents (from the oldest of those
#: subscriptions' times up to ARGV[2]; none without a subscription), their unprocessed flags}; oldest first
#: within a shard, the caller merges shards.
FETCH_WAITING = (
    _READ_INDEXED
    + """
local subs, since, oldest = {}, nil, nil
for first = 1, #KEYS, 5 do
  local found = redis.call('ZRANGEBYSCORE', KEYS[first], '-inf', ARGV[1], 'WITHSCORES')
  for i = 1, #found, 2 do
    local doc = redis.call('HGET', KEYS[first + 1], found[i])
    if doc then
      subs[#subs + 1] = doc
      local score = tonumber(found[i + 1])
      if not oldest or score < oldest then oldest, since = score, found[i + 1] end
    end
  end
end
local docs, flags = {}, {}
if since then
  for first = 1, #KEYS, 5 do
    read_indexed(KEYS[first + 2], KEYS[first + 3], KEYS[first + 4], since, ARGV[2], docs, flags)
  end
end
return {subs, docs, flags}
"""
)

#: KEYS: 1-4 as CREATE_EVENT, 5 the event queue's zset, 6 its sequence counter; ARGV: 1 event id, 2 document,
#: 3 score (event time, us). Stores an unprocessed event with its index entries, then queues its id unless
#: it is queued already (as QUEUE_PUSH): a publication in one step, on one server.
CREATE_EVENT_QUEUED = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1])
if not redis.call('ZSCORE', KEYS[5], ARGV[1]) then
  redis.call('ZADD', KEYS[5], redis.call('INCR', KEYS[6]), ARGV[1])
end
return 1
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
#: runnable entries (KEYS[2]), the subscriptions of their pointers (KEYS[3] ``sub``, KEYS[4]
#: ``sub:where``; a subscription's id is its pointer's), visibility entries (KEYS[5] ``idx:created``,
#: KEYS[6] the status's ``idx:created:<Status>``, and the definition and reference indexes, ARGV[5]/ARGV[6]
#: their key prefixes) and error lists. ARGV[3]/ARGV[4]: the instance and error key prefixes. Returns how
#: many it deleted.
PURGE = (
    _TERMINATE_SUBSCRIPTIONS
    + """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(ids) do
  local fields = redis.call('HGETALL', ARGV[3] .. id)
  for i = 1, #fields, 2 do
    local name, doc = fields[i], fields[i + 1]
    if name == 'def' then
      redis.call('ZREM', ARGV[5] .. doc, id)
    elseif name == 'ref' then
      redis.call('ZREM', ARGV[6] .. doc, id)
    elseif string.match(name, '^%d+$') and string.find(doc, '"event_name":"', 1, true) then
      local pointer = cjson.decode(doc)
      if type(pointer['event_name']) == 'string' then drop_subscription(3, 4, pointer['id']) end
    end
  end
  redis.call('DEL', ARGV[3] .. id, ARGV[4] .. id)
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZREM', KEYS[5], id)
  redis.call('ZREM', KEYS[6], id)
end
return #ids
"""
)

#: Instances in every index KEYS[1..k] (each scored by create_time, us) with a score within
#: [ARGV[1], ARGV[2]) ('-inf' / '+inf' when open; ARGV[2] given as '(<us>'), newest first (equal scores:
#: the larger id first). ARGV[3] skip, ARGV[4] take, or -1 to count them instead; ARGV[5] '1' to answer
#: (id, score) pairs (flat) instead of ids, for a merge across shards. One index alone is read by rank
#: (O(log N) plus the page); with several, the smallest one within the bounds is walked newest first and
#: each id checked in the others (ZSCORE), until the page is full.
#: Returns the ids (or pairs), or the count.
LIST_INSTANCES = """
local low, high, skip, take = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local scored = ARGV[5] == '1'
local upper = '+inf'
if high ~= '+inf' then upper = string.sub(high, 2) end  -- '(<us>': the scores at or above it come first
local best, best_n = 1, -1
for i = 1, #KEYS do
  local n = redis.call('ZCOUNT', KEYS[i], low, high)
  if best_n < 0 or n < best_n then best, best_n = i, n end
end
if #KEYS == 1 and take < 0 then return best_n end
if take == 0 then return {} end
local first = 0
if upper ~= '+inf' then first = redis.call('ZCOUNT', KEYS[best], upper, '+inf') end
if #KEYS == 1 then
  if skip >= best_n then return {} end
  local stop = math.min(skip + take, best_n) - 1
  if scored then
    return redis.call('ZREVRANGE', KEYS[best], first + skip, first + stop, 'WITHSCORES')
  end
  return redis.call('ZREVRANGE', KEYS[best], first + skip, first + stop)
end
local found, matched, done = {}, 0, 0
while done < best_n do
  local page = redis.call('ZREVRANGE', KEYS[best], first + done, first + math.min(done + 500, best_n) - 1,
    'WITHSCORES')
  if #page == 0 then break end
  for j = 1, #page, 2 do
    local id = page[j]
    local everywhere = true
    for i = 1, #KEYS do
      if i ~= best and not redis.call('ZSCORE', KEYS[i], id) then everywhere = false break end
    end
    if everywhere then
      matched = matched + 1
      if take >= 0 and matched > skip then
        found[#found + 1] = id
        if scored then found[#found + 1] = page[j + 1] end
        if #found >= (scored and 2 * take or take) then return found end
      end
    end
  end
  done = done + #page / 2
end
if take < 0 then return matched end
return found
"""

#: KEYS: 1 ``event`` hash, 2 ``idx:events``, 3 ``idx:unprocessed``; ARGV: 1 the key prefix of the
#: shard's (name, key) event indexes, 2.. event ids. Deletes each processed one (not in the unprocessed
#: index) with its index entries (its (name, key) index read from its document), atomically. Returns how
#: many it deleted.
PURGE_EVENTS = """
local purged = 0
for i = 2, #ARGV do
  local id = ARGV[i]
  local doc = redis.call('HGET', KEYS[1], id)
  if doc and not redis.call('ZSCORE', KEYS[3], id) then
    local event = cjson.decode(doc)
    local name, key = event['event_name'], event['event_key']
    if type(name) == 'string' and type(key) == 'string' then
      redis.call('ZREM', ARGV[1] .. #name .. ':' .. name .. ':' .. key, id)
    end
    redis.call('HDEL', KEYS[1], id)
    redis.call('ZREM', KEYS[2], id)
    purged = purged + 1
  end
end
return purged
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

#: KEYS: 1 lock key; ARGV: 1 token, 2 lease (ms). Takes the lock for a token new for each acquisition if it
#: is free; answers 1 also when the lock is already this token's (the same acquisition, sent again after
#: its answer was lost), else 0.
LOCK_ACQUIRE = """
local owner = redis.call('GET', KEYS[1])
if not owner then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if owner == ARGV[1] then return 1 end
return 0
"""

#: KEYS: 1 a workflow's lock key, 2 its instance hash; ARGV: 1 token, 2 lease (ms), 3 most fields read here.
#: Takes the lock as LOCK_ACQUIRE does, then reads the instance: 0 if another token owns the lock (nothing
#: read); 1 if the hash has more than ARGV[3] fields (a long history: the lock is taken, the caller reads
#: it with HGETALL, which costs the server a fifth of a copy through the script); else the hash's fields
#: and values (an empty list: no such instance, the lock taken all the same).
LOCK_AND_LOAD = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
if not holder then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
if redis.call('HLEN', KEYS[2]) > tonumber(ARGV[3]) then return 1 end
return redis.call('HGETALL', KEYS[2])
"""

#: KEYS: 1 lock key; ARGV: 1 token. Deletes the lock only if this token owns it.
LOCK_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

#: KEYS: lock keys; ARGV: 1 lease (ms), then one token per key. Renews many locks in one step: a lock
#: its token still owns gets a new lease, a lock whose key is gone (the server lost it, or its lease ran
#: out while the holder could not reach the server) is set again for its token. Answers one flag per key:
#: 1 held, 0 owned by another token (lost).
LOCK_RENEW_MANY = """
local answers = {}
for i, key in ipairs(KEYS) do
  local owner = redis.call('GET', key)
  if owner == ARGV[i + 1] then
    redis.call('PEXPIRE', key, ARGV[1])
    answers[i] = 1
  elseif not owner then
    redis.call('SET', key, ARGV[i + 1], 'PX', ARGV[1])
    answers[i] = 1
  else
    answers[i] = 0
  end
end
return answers
"""
