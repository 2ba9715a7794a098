"""The Lua scripts of the Redis store, as constants (docs/redis-schema.md lists their contracts).

Each script runs atomically in Redis and touches only keys passed in KEYS, all with one hash tag.
The connection runs a script by EVALSHA and falls back to EVAL when Redis answers NOSCRIPT (after
a restart or SCRIPT FLUSH), so each script body crosses the network about once per server.

Numbers that leave a script are formatted with ``%d``: Lua would print large ones as ``1e+14``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Script:
    name: str
    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.source.encode()).hexdigest())


# KEYS: modseq, states, types, floors, then per type of ARGV's type list: objects, log, born,
#   dead, tomb; then the account's unreferenced-blob index and, per blob claim and then per blob
#   release, the blob's key and its referrer set; then the account's set of derived keys.
# ARGV: channel, account id, type count, type names..., then four counted groups:
#   creates (type index, id, json), updates (type index, id, json), destroys (type index, id),
#   conditions (type index, expected state), unchanged objects (type index, id, modseq); then
#   the time now (unix s) and two counted groups:
#   blob claims (blob id, referrer "Type/id"), blob releases (blob id, referrer); then the
#   tombstones a type keeps at most, and how many a write may drop beyond those it added; then
#   the derived writes ("" when none: account_store.derived_payload), one JSON array of four
#   lists of runs [names, items...], the items going to the key of each name: index removes
#   (member), map deletes (field), index adds (score, member), map sets (field, value), and a
#   fifth when some index adds are scored by a type's state after the write; then the
#   account's key base ("P{a:A}:"); then "" or one JSON object of the counter writes:
#   "a" adjusts [type index, id, [[path, delta]...]], "c" index adds scored by a counter
#   [names, member, type index, id, path, offset], "m" map conditions [map name, field, value
#   or false for absent]. An index or map key is that base + "ix:" or "map:" + its
#   name: built here, not passed in KEYS (tens of thousands of postings would make as many
#   arguments), and in the declared keys' hash slot, since the base carries the account's tag.
# Derived writes are applied once every check passed, removes and deletes before adds and sets;
# the items of one key are collected in order and applied by one command (or a few, when they
# are many); afterwards each touched key that exists is in the derived set, and one that does
# not is not.
# A type the write destroys objects of and that then holds more tombstones than that drops its
# oldest (at most as many as it added plus the allowance), and its floor rises to the newest of
# them: the cost is O(log n) per tombstone dropped.
# An object's stored form is its JSON, then a line "path<TAB>delta" per counter adjusted since
# it was last written whole (memory.decode_value): an adjust sums into those lines, never
# parsing the JSON; a counter's value (for scores) is the JSON's number plus its line.
# Reply: {'ok', account modseq after, state of each listed type...}
#    or: {'mismatch', type, expected, actual} | {'exists', type, id} | {'missing', type, id}
#      | {'noblob', blob id}
# the field of the states hash holding a type's shape state (IChangeLog.shape_state): the
# modseq of its last create, update or destroy ("shape:" cannot begin a type name)
SHAPE_FIELD = "shape:"

WRITE = Script("write", r"""
local ntypes = tonumber(ARGV[3])
local types = {}
for i = 1, ntypes do types[i] = ARGV[3 + i] end
local p = 4 + ntypes
local function group(width)
  local n = tonumber(ARGV[p])
  p = p + 1
  local items = {}
  for i = 1, n do
    local item = {tonumber(ARGV[p])}
    for j = 1, width - 1 do item[j + 1] = ARGV[p + j] end
    items[i] = item
    p = p + width
  end
  return items
end
local creates = group(3)
local updates = group(3)
local destroys = group(2)
local conditions = group(2)
local unchanged = group(3)
local function key(t, k) return KEYS[4 + (t - 1) * 5 + k] end
local now = ARGV[p]
p = p + 1
local function blob_group()
  local n = tonumber(ARGV[p] or '0')
  p = p + 1
  local items = {}
  for i = 1, n do
    items[i] = {ARGV[p], ARGV[p + 1]}
    p = p + 2
  end
  return items
end
local claims = blob_group()
local releases = blob_group()
local max_tombs = tonumber(ARGV[p])
local catch_up = tonumber(ARGV[p + 1])
p = p + 2
local blob_base = 4 + ntypes * 5
local unreferenced = KEYS[blob_base + 1]
-- the blob key and referrer set of the i-th claim (releases follow the claims)
local function blob_keys(i) return KEYS[blob_base + 2 * i], KEYS[blob_base + 2 * i + 1] end
local derived_set = KEYS[blob_base + 2 + 2 * (#claims + #releases)]
local derived = nil
if ARGV[p] ~= '' then derived = cjson.decode(ARGV[p]) end
local key_base = ARGV[p + 1]
local counters = {a = {}, c = {}, m = {}}
if ARGV[p + 2] and ARGV[p + 2] ~= '' then counters = cjson.decode(ARGV[p + 2]) end

-- a stored form split: its JSON, and its counter lines as (ordered paths, path -> delta)
local function split_form(raw)
  local cut = string.find(raw, '\n', 1, true)
  if not cut then return raw, {}, {} end
  local order, deltas = {}, {}
  for line in string.gmatch(string.sub(raw, cut + 1), '[^\n]+') do
    local tab = string.find(line, '\t', 1, true)
    local path, delta = string.sub(line, 1, tab - 1), tonumber(string.sub(line, tab + 1))
    if deltas[path] == nil then
      order[#order + 1] = path
      deltas[path] = 0
    end
    deltas[path] = deltas[path] + delta
  end
  return string.sub(raw, 1, cut - 1), order, deltas
end

-- the number at a counter path of a decoded JSON value (0 where there is none)
local function counter_in(node, path)
  for part in string.gmatch(path, '[^.]+') do
    if type(node) == 'table' then node = node[part] else node = nil end
  end
  if type(node) ~= 'number' then return 0 end
  return node
end

for _, c in ipairs(conditions) do
  local actual = redis.call('HGET', KEYS[2], types[c[1]]) or '0'
  if actual ~= c[2] then return {'mismatch', types[c[1]], c[2], actual} end
end
for _, m in ipairs(counters.m) do
  local actual = redis.call('HGET', key_base .. 'map:' .. m[1], m[2])
  if actual ~= m[3] then
    return {'mismatch', 'map:' .. m[1], tostring(m[3]), tostring(actual)}
  end
end
-- an object read at a modseq is unchanged if its last change is not above it, and the log
-- still reaches back there (the floor: changes below it may be forgotten)
for _, c in ipairs(unchanged) do
  local position = tonumber(c[3])
  local last = tonumber(redis.call('ZSCORE', key(c[1], 2), c[2]) or '0')
  local floor = tonumber(redis.call('HGET', KEYS[4], types[c[1]]) or '0')
  if floor > position and floor > last then last = floor end
  if last > position then return {'mismatch', types[c[1]], c[3], string.format('%d', last)} end
end
for _, c in ipairs(creates) do
  if redis.call('HEXISTS', key(c[1], 1), c[2]) == 1 then return {'exists', types[c[1]], c[2]} end
end
for _, u in ipairs(updates) do
  if redis.call('HEXISTS', key(u[1], 1), u[2]) == 0 then return {'missing', types[u[1]], u[2]} end
end
for _, d in ipairs(destroys) do
  if redis.call('HEXISTS', key(d[1], 1), d[2]) == 0 then return {'missing', types[d[1]], d[2]} end
end
for i, c in ipairs(claims) do
  if redis.call('EXISTS', (blob_keys(i))) == 0 then return {'noblob', c[1]} end
end
for _, a in ipairs(counters.a) do
  if redis.call('HEXISTS', key(a[1], 1), a[2]) == 0 then return {'missing', types[a[1]], a[2]} end
end
-- counter-scored adds take the counter as it is before this write's adjusts
local counter_scores = {}
for i, c in ipairs(counters.c) do
  local raw = redis.call('HGET', key(c[3], 1), c[4])
  if not raw then return {'missing', types[c[3]], c[4]} end
  local head, _, deltas = split_form(raw)
  local value = counter_in(cjson.decode(head), c[5])
  counter_scores[i] = string.format('%d', value + (deltas[c[5]] or 0) + c[6])
end

-- releases first, so a batch that releases and claims one blob leaves it claimed; a blob whose
-- last claim goes is stamped unreferenced now (the sweep deletes it once that is old enough)
for i, r in ipairs(releases) do
  local blob, refs = blob_keys(#claims + i)
  if redis.call('SREM', refs, r[2]) == 1 and redis.call('EXISTS', refs) == 0
     and redis.call('EXISTS', blob) == 1 then
    redis.call('ZADD', unreferenced, now, r[1])
  end
end
for i, c in ipairs(claims) do
  local _, refs = blob_keys(i)
  redis.call('SADD', refs, c[2])
  redis.call('ZREM', unreferenced, c[1])
end

-- derived writes: removes and deletes first; the derived set lists exactly the keys that exist
if derived then
  local ix, map = key_base .. 'ix:', key_base .. 'map:'
  local shrunk, grown = {}, {}  -- keys that may be gone; keys that exist (they were written)
  -- the runs of one list, key by key: one command per key (and per 1000 items: Lua's unpack
  -- takes some 8000 values at most)
  local function apply(runs, width, command, prefix, touched)
    local items, order = {}, {}
    for _, run in ipairs(runs) do
      for _, name in ipairs(run[1]) do
        local list = items[name]
        if list == nil then
          list = {}
          items[name] = list
          order[#order + 1] = name
        end
        local n = #list
        for j = 1, width do list[n + j] = run[j + 1] end
      end
    end
    local step = 1000 * width
    for _, name in ipairs(order) do
      local k, list = prefix .. name, items[name]
      for i = 1, #list, step do
        redis.call(command, k, unpack(list, i, math.min(i + step - 1, #list)))
      end
      touched[#touched + 1] = k
    end
  end
  apply(derived[1], 1, 'ZREM', ix, shrunk)
  apply(derived[2], 1, 'HDEL', map, shrunk)
  apply(derived[3], 2, 'ZADD', ix, grown)
  apply(derived[4], 2, 'HSET', map, grown)
  for i = 1, #grown, 1000 do
    redis.call('SADD', derived_set, unpack(grown, i, math.min(i + 999, #grown)))
  end
  -- the shrunk keys still there, and those gone, each told to the derived set in one command
  local kept, gone = {}, {}
  for _, k in ipairs(shrunk) do
    if redis.call('EXISTS', k) == 1 then kept[#kept + 1] = k else gone[#gone + 1] = k end
  end
  for i = 1, #kept, 1000 do
    redis.call('SADD', derived_set, unpack(kept, i, math.min(i + 999, #kept)))
  end
  for i = 1, #gone, 1000 do
    redis.call('SREM', derived_set, unpack(gone, i, math.min(i + 999, #gone)))
  end
end

local before = {}
for i = 1, ntypes do before[i] = redis.call('HGET', KEYS[2], types[i]) or '0' end
local total = #creates + #updates + #destroys + #counters.a
local counter
if total == 0 then
  counter = tonumber(redis.call('GET', KEYS[1]) or '0')
else
  counter = redis.call('INCRBY', KEYS[1], total)
  local modseq = counter - total
  local changed, shaped = {}, {}
  local function stamp(t)
    modseq = modseq + 1
    local s = string.format('%d', modseq)
    changed[types[t]] = s
    return s
  end
  for _, c in ipairs(creates) do
    local s = stamp(c[1])
    shaped[types[c[1]]] = s
    redis.call('HSET', key(c[1], 1), c[2], c[3])
    redis.call('ZADD', key(c[1], 2), s, c[2])
    redis.call('HSET', key(c[1], 3), c[2], s)
    redis.call('SREM', key(c[1], 4), c[2])
    redis.call('ZREM', key(c[1], 5), c[2])
  end
  for _, u in ipairs(updates) do
    local s = stamp(u[1])
    shaped[types[u[1]]] = s
    redis.call('HSET', key(u[1], 1), u[2], u[3])
    redis.call('ZADD', key(u[1], 2), s, u[2])
  end
  local added = {}
  for _, d in ipairs(destroys) do
    local s = stamp(d[1])
    shaped[types[d[1]]] = s
    redis.call('HDEL', key(d[1], 1), d[2])
    redis.call('ZADD', key(d[1], 2), s, d[2])
    redis.call('SADD', key(d[1], 4), d[2])
    redis.call('ZADD', key(d[1], 5), s, d[2])
    added[d[1]] = (added[d[1]] or 0) + 1
  end
  for _, a in ipairs(counters.a) do
    local s = stamp(a[1])
    local head, order, deltas = split_form(redis.call('HGET', key(a[1], 1), a[2]))
    local base = nil
    for _, pd in ipairs(a[3]) do
      if deltas[pd[1]] == nil then
        order[#order + 1] = pd[1]
        deltas[pd[1]] = 0
      end
      deltas[pd[1]] = deltas[pd[1]] + pd[2]
      if pd[2] < 0 then
        -- never below 0: the JSON's number is read only for a decrease
        if base == nil then base = cjson.decode(head) end
        local floor = -counter_in(base, pd[1])
        if deltas[pd[1]] < floor then deltas[pd[1]] = floor end
      end
    end
    local form = {head}
    for _, path in ipairs(order) do
      form[#form + 1] = path .. '\t' .. string.format('%d', deltas[path])
    end
    redis.call('HSET', key(a[1], 1), a[2], table.concat(form, '\n'))
    redis.call('ZADD', key(a[1], 2), s, a[2])
  end
  -- retention: the oldest tombstones over the limit go, and the floor rises past them
  for t, n in pairs(added) do
    local drop = math.min(redis.call('ZCARD', key(t, 5)) - max_tombs, n + catch_up)
    if drop > 0 then
      local oldest = redis.call('ZRANGE', key(t, 5), 0, drop - 1, 'WITHSCORES')
      for i = 1, #oldest, 2 do
        redis.call('ZREM', key(t, 2), oldest[i])
        redis.call('HDEL', key(t, 3), oldest[i])
        redis.call('SREM', key(t, 4), oldest[i])
      end
      redis.call('ZREMRANGEBYRANK', key(t, 5), 0, drop - 1)
      local newest = tonumber(oldest[#oldest])
      if newest > tonumber(redis.call('HGET', KEYS[4], types[t]) or '0') then
        redis.call('HSET', KEYS[4], types[t], string.format('%d', newest))
      end
    end
  end
  for type_name, state in pairs(changed) do
    redis.call('HSET', KEYS[2], type_name, state)
    redis.call('SADD', KEYS[3], type_name)
  end
  for type_name, state in pairs(shaped) do
    redis.call('HSET', KEYS[2], 'shape:' .. type_name, state)
  end
  redis.call('PUBLISH', ARGV[1], cjson.encode({account = ARGV[2], changed = changed}))
end
-- index adds scored by a type's state after the batch: the last derived writes
if derived and derived[5] then
  for _, run in ipairs(derived[5]) do
    local score = redis.call('HGET', KEYS[2], run[3]) or '0'
    for _, name in ipairs(run[1]) do
      local k = key_base .. 'ix:' .. name
      redis.call('ZADD', k, score, run[2])
      redis.call('SADD', derived_set, k)
    end
  end
end
for i, c in ipairs(counters.c) do
  for _, name in ipairs(c[1]) do
    local k = key_base .. 'ix:' .. name
    redis.call('ZADD', k, counter_scores[i], c[2])
    redis.call('SADD', derived_set, k)
  end
end
local reply = {'ok', string.format('%d', counter)}
for i = 1, ntypes do reply[i + 2] = redis.call('HGET', KEYS[2], types[i]) or '0' end
for i = 1, ntypes do reply[ntypes + i + 2] = before[i] end
return reply
""")

# KEYS: modseq, states, floors, log, born, dead (of one type).
# ARGV: type, position, origin, snapshot, max changes (0: no limit).
# Reply: {'invalid'} | {'cannot'} | {'ok', new state, has more (0/1), created, updated, destroyed}
_CHANGES_BODY = r"""
local counter = tonumber(redis.call('GET', KEYS[1]) or '0')
local position = tonumber(ARGV[2])
local origin = tonumber(ARGV[3])
local snapshot = tonumber(ARGV[4])
if position > counter or snapshot > counter then return {'invalid'} end
local floor = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0')
if position < floor then return {'cannot'} end
local limit = tonumber(ARGV[5])
local entries
if limit > 0 then
  entries = redis.call('ZRANGEBYSCORE', KEYS[4], '(' .. ARGV[2], '+inf', 'WITHSCORES',
                       'LIMIT', 0, limit + 1)
else
  entries = redis.call('ZRANGEBYSCORE', KEYS[4], '(' .. ARGV[2], '+inf', 'WITHSCORES')
end
local n = #entries / 2
local has_more = limit > 0 and n > limit
if has_more then n = limit end
local created, updated, destroyed = {}, {}, {}
local last = position
for i = 1, n do
  local id = entries[2 * i - 1]
  last = tonumber(entries[2 * i])
  local born = tonumber(redis.call('HGET', KEYS[5], id) or '0')
  local dead = redis.call('SISMEMBER', KEYS[6], id) == 1
  if born > position or (born > origin and last <= snapshot) then
    if not dead then created[#created + 1] = id end
  elseif dead then
    destroyed[#destroyed + 1] = id
  else
    updated[#updated + 1] = id
  end
end
local new_state
if has_more then
  new_state = string.format('%d:%d:%d', last, origin, counter)
else
  local state = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
  new_state = string.format('%d', math.max(position, state))
end
return {'ok', new_state, has_more and 1 or 0, created, updated, destroyed}
"""
CHANGES = Script("changes", _CHANGES_BODY)

# KEYS: modseq, floors, log, born, dead, tomb (of one type).  ARGV: type, keep-after modseq.
# Reply: 'invalid' | 'ok'
COMPACT = Script("compact", r"""
local counter = tonumber(redis.call('GET', KEYS[1]) or '0')
local keep = tonumber(ARGV[2])
if keep > counter then return 'invalid' end
local floor = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if keep <= floor then return 'ok' end
for _, id in ipairs(redis.call('SMEMBERS', KEYS[5])) do
  local score = redis.call('ZSCORE', KEYS[3], id)
  if score and tonumber(score) <= keep then
    redis.call('ZREM', KEYS[3], id)
    redis.call('HDEL', KEYS[4], id)
    redis.call('SREM', KEYS[5], id)
    redis.call('ZREM', KEYS[6], id)
  end
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 'ok'
""")

# KEYS: modseq, states, floors, types, blobs, uploads, unreferenced, derived, then the five keys
#   of every type, the key of every blob (and its referrer set), the key of every upload and
#   every index and map key, as read from the four index keys just before.
# ARGV: type count, blob count, upload count, derived key count, type names..., blob ids...,
#   upload tokens..., derived keys...
# Reply: 1 when everything was deleted, 0 when the indexes changed meanwhile (read and retry).
DESTROY_ACCOUNT = Script("destroy_account", r"""
local nt, nb, nu = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local nd = tonumber(ARGV[4])
if redis.call('SCARD', KEYS[4]) ~= nt or redis.call('SCARD', KEYS[5]) ~= nb
   or redis.call('ZCARD', KEYS[6]) ~= nu or redis.call('SCARD', KEYS[8]) ~= nd then
  return 0
end
for i = 1, nt do
  if redis.call('SISMEMBER', KEYS[4], ARGV[4 + i]) == 0 then return 0 end
end
for i = 1, nb do
  if redis.call('SISMEMBER', KEYS[5], ARGV[4 + nt + i]) == 0 then return 0 end
end
for i = 1, nu do
  if not redis.call('ZSCORE', KEYS[6], ARGV[4 + nt + nb + i]) then return 0 end
end
for i = 1, nd do
  if redis.call('SISMEMBER', KEYS[8], ARGV[4 + nt + nb + nu + i]) == 0 then return 0 end
end
for i = 1, #KEYS do redis.call('DEL', KEYS[i]) end
return 1
""")

# KEYS: the index keys the plan names, then one scratch key per step of the program (each
#   inside the account's hash tag, unused before; all deleted before the script returns).
# ARGV: mode, descending (1/0), offset, limit (-1: no limit), then by mode:
#   'key': nothing (KEYS[1] is the result);
#   'range': lowest score ('-inf' or a number, inclusive), highest ('+inf' or '(' number,
#     exclusive) of the members of KEYS[1] wanted;
#   'program': how many index keys lead KEYS, then the postfix program, whose steps push sorted
#     sets on a stack: 'K' i (index key i itself), 'R' i low high (the members of key i in the
#     score range), 'I' n (intersection of the top n, with the scores of the first of them),
#     'U' n (union of the top n, with the highest score of each member), 'D' (the second from
#     the top without the members of the top, with its scores).
# Reply: {total, {member, score, ...}}: the window of the result ordered by score then member
#   (both reversed when descending), and how many members the result has.
# Cost: O(log n + window) for 'key', O(log n + offset + window) for 'range'. A program's writes
# (to its scratch keys only) are not replicated: nothing of them outlives the script.
_INDEX_QUERY_BODY = r"""
local mode = ARGV[1]
local rev = ARGV[2] == '1'
local offset = tonumber(ARGV[3])
local limit = tonumber(ARGV[4])
local function wanted(total) return limit ~= 0 and offset < total end

if mode == 'range' then
  local low, high = ARGV[5], ARGV[6]
  local total = redis.call('ZCOUNT', KEYS[1], low, high)
  local members = {}
  if wanted(total) then
    if rev then
      members = redis.call('ZRANGE', KEYS[1], high, low, 'BYSCORE', 'REV',
                           'LIMIT', ARGV[3], ARGV[4], 'WITHSCORES')
    else
      members = redis.call('ZRANGE', KEYS[1], low, high, 'BYSCORE',
                           'LIMIT', ARGV[3], ARGV[4], 'WITHSCORES')
    end
  end
  return {total, members}
end

local function page(key)
  local total = redis.call('ZCARD', key)
  local members = {}
  if wanted(total) then
    local stop = -1
    if limit > 0 then stop = offset + limit - 1 end
    if rev then
      members = redis.call('ZREVRANGE', key, offset, stop, 'WITHSCORES')
    else
      members = redis.call('ZRANGE', key, offset, stop, 'WITHSCORES')
    end
  end
  return {total, members}
end

if mode == 'key' then return page(KEYS[1]) end

-- the scratch keys live and die inside this script: replicas and the AOF need none of it
redis.replicate_commands()
redis.set_repl(redis.REPL_NONE)
local nleaf = tonumber(ARGV[5])
local nlazy = tonumber(ARGV[6])
local used = nleaf
local function scratch()
  used = used + 1
  return KEYS[used]
end
local function run()
  local stack = {}
  local p = 7 + nlazy
  while p <= #ARGV do
    local op = ARGV[p]
    if op == 'K' then
      stack[#stack + 1] = KEYS[tonumber(ARGV[p + 1])]
      p = p + 2
    elseif op == 'R' then
      local dst = scratch()
      redis.call('ZRANGESTORE', dst, KEYS[tonumber(ARGV[p + 1])], ARGV[p + 2], ARGV[p + 3],
                 'BYSCORE')
      stack[#stack + 1] = dst
      p = p + 4
    elseif op == 'D' then
      local excluded = table.remove(stack)
      local base = table.remove(stack)
      local dst = scratch()
      redis.call('ZDIFFSTORE', dst, 2, base, excluded)
      stack[#stack + 1] = dst
      p = p + 1
    else
      local n = tonumber(ARGV[p + 1])
      local args = {}
      for i = #stack - n + 1, #stack do args[#args + 1] = stack[i] end
      for _ = 1, n do table.remove(stack) end
      local dst = scratch()
      if op == 'I' then
        args[#args + 1] = 'WEIGHTS'
        args[#args + 1] = '1'
        for _ = 2, n do args[#args + 1] = '0' end
        redis.call('ZINTERSTORE', dst, n, unpack(args))
      else
        args[#args + 1] = 'AGGREGATE'
        args[#args + 1] = 'MAX'
        redis.call('ZUNIONSTORE', dst, n, unpack(args))
      end
      stack[#stack + 1] = dst
      p = p + 2
    end
  end
  return page(stack[#stack])
end

-- the lazy walk (indexes.py, _lazy): ARGV[7] budget, the walked leaves, the membership test
local function bound_ok(s, bound, is_low)
  if bound == '-inf' or bound == '+inf' then return true end
  if string.sub(bound, 1, 1) == '(' then
    local b = tonumber(string.sub(bound, 2))
    if is_low then return s > b else return s < b end
  end
  local b = tonumber(bound)
  if is_low then return s >= b else return s <= b end
end
local function holds(test, m)
  if #test == 0 then return true end
  local st = {}
  local i = 1
  while i <= #test do
    local op = test[i]
    if op == 'K' then
      st[#st + 1] = redis.call('ZSCORE', KEYS[tonumber(test[i + 1])], m) ~= false
      i = i + 2
    elseif op == 'R' then
      local s = redis.call('ZSCORE', KEYS[tonumber(test[i + 1])], m)
      local ok = false
      if s then
        s = tonumber(s)
        ok = bound_ok(s, test[i + 2], true) and bound_ok(s, test[i + 3], false)
      end
      st[#st + 1] = ok
      i = i + 4
    elseif op == 'D' then
      local b = table.remove(st)
      local a = table.remove(st)
      st[#st + 1] = a and not b
      i = i + 1
    else
      local n = tonumber(test[i + 1])
      local r = op == 'I'
      for _ = 1, n do
        local v = table.remove(st)
        if op == 'I' then r = r and v else r = r or v end
      end
      st[#st + 1] = r
      i = i + 2
    end
  end
  return st[1]
end
-- member order as Redis has it (bytes, memcmp); Lua's < on strings follows the locale
local function bytes_greater(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x > y end
  end
  return #a > #b
end
local function lazy()
  local p = 7
  local want = offset + limit
  local budget = tonumber(ARGV[p]) + 4 * want
  local nwalk = tonumber(ARGV[p + 1])
  local walked = {}
  for i = 1, nwalk do walked[i] = KEYS[tonumber(ARGV[p + 1 + i])] end
  p = p + 2 + nwalk
  local test = {}
  for i = 1, tonumber(ARGV[p]) do test[i] = ARGV[p + i] end
  local chunk = math.max(64, want)
  -- each walked index: its members, their scores (numbers and as Redis wrote them), where
  -- the walk is in them, and the rank to read from next
  local walks = {}
  local function fill(w)
    local flat
    if rev then
      flat = redis.call('ZREVRANGE', w.key, w.rank, w.rank + chunk - 1, 'WITHSCORES')
    else
      flat = redis.call('ZRANGE', w.key, w.rank, w.rank + chunk - 1, 'WITHSCORES')
    end
    local members, scores, texts = {}, {}, {}
    for k = 1, #flat, 2 do
      members[#members + 1] = flat[k]
      texts[#texts + 1] = flat[k + 1]
      scores[#scores + 1] = tonumber(flat[k + 1])
    end
    w.members, w.scores, w.texts, w.at = members, scores, texts, 1
    w.rank = w.rank + chunk
    w.more = #members == chunk
  end
  for i = 1, nwalk do
    local w = {key = walked[i], rank = 0}
    fill(w)
    if #w.members > 0 then walks[#walks + 1] = w end
  end
  local seen, found, nfound, examined = {}, {}, 0, 0
  local nwalks = #walks
  while nfound < want and nwalks > 0 do
    -- the walk whose next member comes first: the best score, then the member's bytes
    local best = walks[1]
    local best_score, best_member = best.scores[best.at], best.members[best.at]
    for k = 2, nwalks do
      local w = walks[k]
      local sc = w.scores[w.at]
      local better
      if sc == best_score then
        local m = w.members[w.at]
        -- the same member in two indexes (a word and its stem) is the usual tie: Lua strings
        -- are interned, so == costs nothing, and the byte comparison is left to real ties
        if m == best_member then better = false
        elseif rev then better = bytes_greater(m, best_member)
        else better = bytes_greater(best_member, m) end
      elseif rev then better = sc > best_score
      else better = sc < best_score end
      if better then best, best_score, best_member = w, sc, w.members[w.at] end
    end
    local score_text = best.texts[best.at]
    best.at = best.at + 1
    if best.at > #best.members then
      if best.more then fill(best) end
      if best.at > #best.members then
        for k = 1, nwalks do
          if walks[k] == best then table.remove(walks, k) break end
        end
        nwalks = nwalks - 1
      end
    end
    if not seen[best_member] then
      seen[best_member] = true
      examined = examined + 1
      if examined > budget then return nil end
      if holds(test, best_member) then
        nfound = nfound + 1
        found[2 * nfound - 1] = best_member
        found[2 * nfound] = score_text
      end
    end
  end
  local members = {}
  for i = 2 * offset + 1, #found do members[#members + 1] = found[i] end
  return {-1, members}
end
if nlazy > 0 and limit > 0 then
  local walked = lazy()
  if walked then return walked end
end

local ok, result = pcall(run)
-- UNLINK: a scratch set of thousands of members is freed by a background thread, not here
if #KEYS > nleaf then redis.call('UNLINK', unpack(KEYS, nleaf + 1)) end
if not ok then
  if type(result) == 'table' and result.err then return redis.error_reply(result.err) end
  return redis.error_reply(tostring(result))
end
return result
"""
INDEX_QUERY = Script("index_query", _INDEX_QUERY_BODY)

# KEYS: blob, blob index, referrer set, unreferenced index.  ARGV: blob id, content, now.
# Reply: size.  An unclaimed blob is stamped unreferenced now (again, if it was already).
# KEYS: log, dead of one type (and the account's states, and then an index).
# ARGV: (the type name, then) object ids.
# Reply: per id, its last-change modseq as text, or false when it is not a live logged object;
# with the states key, the type's state (false when never written) comes first; with the index,
# per id its score there (false when it is not in it) follows.
_MODSEQS_BODY = r"""
local out = {}
local start = 1
if #KEYS >= 3 then
  out[1] = redis.call('HGET', KEYS[3], ARGV[1])
  start = 2
end
local base = #out - start + 1
local nids = #ARGV - start + 1
-- in slices (unpack has a limit on how many values it spreads), two commands a slice rather
-- than two per id: a FETCH of 200 flags spent 0.7 ms of Redis CPU in 400 calls
for first = start, #ARGV, 1000 do
  local last = math.min(first + 999, #ARGV)
  local scores = redis.call('ZMSCORE', KEYS[1], unpack(ARGV, first, last))
  local dead = redis.call('SMISMEMBER', KEYS[2], unpack(ARGV, first, last))
  for i = 1, last - first + 1 do
    local score = scores[i]
    if score and dead[i] == 0 then
      out[base + first + i - 1] = string.format('%d', tonumber(score))
    else
      out[base + first + i - 1] = false
    end
  end
  if #KEYS == 4 then
    local found = redis.call('ZMSCORE', KEYS[4], unpack(ARGV, first, last))
    for i = 1, last - first + 1 do
      out[base + nids + first + i - 1] = found[i] or false
    end
  end
end
return out
"""
MODSEQS = Script("modseqs", _MODSEQS_BODY)

# KEYS: the account's states, the objects of the type whose ids ARGV names (any key when none),
#   then each query's keys as INDEX_QUERY takes them; then, when changes are asked for, the
#   account's modseq and floors, the type's log, born and dead, and the index of the scores.
# ARGV: type name, how many ids, the ids, how many queries, then per query: how many keys and
#   how many arguments it has, and its arguments as INDEX_QUERY takes them; then "1" when
#   changes are asked for ("0" or nothing when not), followed by the position, origin,
#   snapshot and most changes as CHANGES takes them, how many more ids, and those ids; then,
#   when a mark is asked for, "1", its field, and "1" to claim ("0" to read only), with three
#   more KEYS: the map, the index and the account's set of derived keys.
# Reply: {state (false when never written), {value or false per id}, then each query's reply
#   as INDEX_QUERY gives it}; an error of any query is the reply. With changes, two more:
#   CHANGES's reply, and (when it is 'ok') MODSEQS's reply with the states and the index for
#   the created, updated and further ids, in that order without repeats. With a mark, last
#   (unless the changes were not 'ok': then nothing is read or raised), {the mark before,
#   the index's top score, how many members score above the mark}, as text; a claim raises
#   the mark to the top as MAP_RAISE would.
# (index_query, changes and modseqs are those scripts themselves, with their KEYS and ARGV)
_INDEX_QUERY_FUNCTION = "local function index_query(KEYS, ARGV)\n" + _INDEX_QUERY_BODY + "end\n"
SNAPSHOT = Script("snapshot", _INDEX_QUERY_FUNCTION
                  + "local function changes(KEYS, ARGV)\n" + _CHANGES_BODY + "end\n"
                  + "local function modseqs(KEYS, ARGV)\n" + _MODSEQS_BODY + "end\n" + r"""

local state = redis.call('HGET', KEYS[1], ARGV[1])
local nids = tonumber(ARGV[2])
local values = {}
-- in slices: unpack has a limit on how many values it spreads
for first = 3, nids + 2, 1000 do
  local found = redis.call('HMGET', KEYS[2], unpack(ARGV, first, math.min(first + 999, nids + 2)))
  for i = 1, #found do values[#values + 1] = found[i] end
end
local out = {state, values}
local p = nids + 3
local k = 3
local nqueries = tonumber(ARGV[p])
p = p + 1
for _ = 1, nqueries do
  local nkeys, nargs = tonumber(ARGV[p]), tonumber(ARGV[p + 1])
  local qkeys, qargs = {}, {}
  for i = 1, nkeys do qkeys[i] = KEYS[k + i - 1] end
  for i = 1, nargs do qargs[i] = ARGV[p + 1 + i] end
  k = k + nkeys
  p = p + 2 + nargs
  local page = index_query(qkeys, qargs)
  if type(page) == 'table' and page.err then return page end
  out[#out + 1] = page
end
if ARGV[p] == '1' then
  local modseq, floors, log, born, dead, index = KEYS[k], KEYS[k + 1], KEYS[k + 2],
    KEYS[k + 3], KEYS[k + 4], KEYS[k + 5]
  local found = changes({modseq, KEYS[1], floors, log, born, dead},
                        {ARGV[1], ARGV[p + 1], ARGV[p + 2], ARGV[p + 3], ARGV[p + 4]})
  out[#out + 1] = found
  if found[1] ~= 'ok' then return out end
  local ids, seen = {ARGV[1]}, {}
  local function add(id)
    if not seen[id] then
      seen[id] = true
      ids[#ids + 1] = id
    end
  end
  for _, id in ipairs(found[4]) do add(id) end
  for _, id in ipairs(found[5]) do add(id) end
  local nalso = tonumber(ARGV[p + 5])
  for i = 1, nalso do add(ARGV[p + 5 + i]) end
  out[#out + 1] = modseqs({log, dead, KEYS[1], index}, ids)
  k = k + 6
  p = p + 6 + nalso
else
  p = p + 1
end
if ARGV[p] == '1' then
  local map, index, derived = KEYS[k], KEYS[k + 1], KEYS[k + 2]
  local before = tonumber(redis.call('HGET', map, ARGV[p + 1]) or '0')
  local last = redis.call('ZRANGE', index, -1, -1, 'WITHSCORES')
  local top = tonumber(last[2] or '0')
  local above = redis.call('ZCOUNT', index, '(' .. string.format('%d', before), '+inf')
  if ARGV[p + 2] == '1' and top > before then
    redis.call('HSET', map, ARGV[p + 1], string.format('%d', top))
    redis.call('SADD', derived, map)
  end
  out[#out + 1] = {string.format('%d', before), string.format('%d', top), tostring(above)}
end
return out
""")

# KEYS: the account's states, the objects of one type (or any hash: a map, map_get_at_state).
# ARGV: type name, then "ids" and the ids, or "all" and the most objects to read (-1: no limit).
# Reply: the type's state (false when never written), then the values of the ids in order
# (false where missing), or for "all" every id and value in turn, or only how many there are
# when that is more than the limit.
GET_WITH_STATE = Script("get_with_state", r"""
local state = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[2] == 'all' then
  local limit = tonumber(ARGV[3])
  if limit >= 0 then
    local count = redis.call('HLEN', KEYS[2])
    if count > limit then
      return {state, count}
    end
  end
  local all = redis.call('HGETALL', KEYS[2])
  table.insert(all, 1, state)
  return all
end
local out = {state}
-- in slices: unpack has a limit on how many values it spreads
for first = 3, #ARGV, 1000 do
  local values = redis.call('HMGET', KEYS[2], unpack(ARGV, first, math.min(first + 999, #ARGV)))
  for _, value in ipairs(values) do
    out[#out + 1] = value
  end
end
return out
""")

# KEYS: the map, the account's set of derived keys.  ARGV: field, value.
# Reply: what the field held ("0" when nothing); the field becomes value if that is more.
MAP_RAISE = Script("map_raise", r"""
local held = redis.call('HGET', KEYS[1], ARGV[1])
if not held or tonumber(held) < tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('SADD', KEYS[2], KEYS[1])
end
return held or '0'
""")

BLOB_PUT = Script("blob_put", r"""
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SET', KEYS[1], ARGV[2]) end
redis.call('SADD', KEYS[2], ARGV[1])
if redis.call('EXISTS', KEYS[3]) == 0 then redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1]) end
return redis.call('STRLEN', KEYS[1])
""")

# KEYS: blob.  ARGV: first byte, last byte (inclusive, -1 for the end).
# Reply: nil when there is no such blob, else {bytes}.
BLOB_GET = Script("blob_get", r"""
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
return {redis.call('GETRANGE', KEYS[1], ARGV[1], ARGV[2])}
""")

# KEYS: blob.  Reply: size, or -1 when there is no such blob.
BLOB_STAT = Script("blob_stat", r"""
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
return redis.call('STRLEN', KEYS[1])
""")

# KEYS: blob, blob index, referrer set, unreferenced index.  ARGV: blob id.
BLOB_DELETE = Script("blob_delete", r"""
redis.call('DEL', KEYS[1], KEYS[3])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
return 1
""")

# KEYS: upload, upload index.  ARGV: chunk, time to live (ms), token, expiry (unix s), now (unix s).
# Reply: bytes held so far (less than expected when the upload expired between chunks).
UPLOAD_APPEND = Script("upload_append", r"""
redis.call('APPEND', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return redis.call('STRLEN', KEYS[1])
""")

# KEYS: upload, blob, blob index, upload index, referrer set, unreferenced index.
# ARGV: blob id, token, expected size, now.
# Reply: size, or -1 when the upload does not hold the expected bytes (it expired meanwhile).
# An unclaimed blob is stamped unreferenced now, as by blob_put.
UPLOAD_COMMIT = Script("upload_commit", r"""
local have = redis.call('STRLEN', KEYS[1])
redis.call('ZREM', KEYS[4], ARGV[2])
if have ~= tonumber(ARGV[3]) then
  redis.call('DEL', KEYS[1])
  return -1
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('DEL', KEYS[1])
elseif have == 0 then
  redis.call('SET', KEYS[2], '')
else
  redis.call('RENAME', KEYS[1], KEYS[2])
  redis.call('PERSIST', KEYS[2])
end
redis.call('SADD', KEYS[3], ARGV[1])
if redis.call('EXISTS', KEYS[5]) == 0 then redis.call('ZADD', KEYS[6], ARGV[4], ARGV[1]) end
return have
""")

# KEYS: upload, upload index.  ARGV: token.
UPLOAD_ABORT = Script("upload_abort", r"""
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
""")

# KEYS: per blob, its key and its referrer set.
# Reply: per blob, {0, {}} when it is not stored, else {1, {referrers...}}.
BLOB_REFERRERS = Script("blob_referrers", r"""
local reply = {}
for i = 1, #KEYS / 2 do
  if redis.call('EXISTS', KEYS[2 * i - 1]) == 1 then
    reply[i] = {1, redis.call('SMEMBERS', KEYS[2 * i])}
  else
    reply[i] = {0, {}}
  end
end
return reply
""")

# KEYS: unreferenced index, blob index, then per candidate its blob key and referrer set.
# ARGV: cutoff (unix s), candidate blob ids...
# Deletes each candidate still unreferenced since the cutoff or earlier and still unclaimed.
# Reply: how many blobs it deleted.
SWEEP_UNREFERENCED = Script("sweep_unreferenced", r"""
local cutoff = tonumber(ARGV[1])
local deleted = 0
for i = 2, #ARGV do
  local since = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if since and tonumber(since) <= cutoff then
    redis.call('ZREM', KEYS[1], ARGV[i])
    if redis.call('EXISTS', KEYS[2 * i]) == 0 then
      redis.call('DEL', KEYS[2 * i - 1])
      redis.call('SREM', KEYS[2], ARGV[i])
      deleted = deleted + 1
    end
  end
end
return deleted
""")

# KEYS: principals, names, passwords.  ARGV: id, name, json, has password (1/0), password hash.
# Reply: 'ok' | 'exists' (name taken) | 'taken' (id taken: draw another)
CREATE_PRINCIPAL = Script("create_principal", r"""
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then return 'exists' end
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 'taken' end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
if ARGV[4] == '1' then redis.call('HSET', KEYS[3], ARGV[1], ARGV[5]) end
return 'ok'
""")

# KEYS: principals, passwords.  ARGV: id.  Reply: nil | {json, password hash or nil}
GET_PRINCIPAL = Script("get_principal", r"""
local principal = redis.call('HGET', KEYS[1], ARGV[1])
if not principal then return false end
return {principal, redis.call('HGET', KEYS[2], ARGV[1])}
""")

# KEYS: names, principals, passwords.  ARGV: name.  Reply: nil | {id, json, password hash or nil}
FIND_PRINCIPAL = Script("find_principal", r"""
local id = redis.call('HGET', KEYS[1], ARGV[1])
if not id then return false end
local principal = redis.call('HGET', KEYS[2], id)
if not principal then return false end
return {id, principal, redis.call('HGET', KEYS[3], id)}
""")

# KEYS: principals, passwords.  Reply: {HGETALL principals, HGETALL passwords}
LIST_PRINCIPALS = Script("list_principals", r"""
return {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2])}
""")

# KEYS: principals, passwords.  ARGV: id, has password (1/0), password hash.  Reply: 1 | 0
SET_PASSWORD = Script("set_password", r"""
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
if ARGV[2] == '1' then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
else
  redis.call('HDEL', KEYS[2], ARGV[1])
end
return 1
""")

# KEYS: principals, names, passwords, tokens, principal's tokens, aliases, principal's aliases,
#   addresses, principal's addresses.
# ARGV: id.  Reply: 1 | 0 (no such principal)
DELETE_PRINCIPAL = Script("delete_principal", r"""
local principal = redis.call('HGET', KEYS[1], ARGV[1])
if not principal then return 0 end
local name = cjson.decode(principal).name
if redis.call('HGET', KEYS[2], name) == ARGV[1] then redis.call('HDEL', KEYS[2], name) end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
for _, token_id in ipairs(redis.call('SMEMBERS', KEYS[5])) do
  local token = redis.call('HGET', KEYS[4], token_id)
  if token and cjson.decode(token).principal_id == ARGV[1] then
    redis.call('HDEL', KEYS[4], token_id)
  end
end
redis.call('DEL', KEYS[5])
for _, address in ipairs(redis.call('SMEMBERS', KEYS[7])) do
  local targets = redis.call('HGET', KEYS[6], address)
  if targets then
    local remaining, found = {}, false
    for _, target in ipairs(cjson.decode(targets)) do
      if target == ARGV[1] then found = true else remaining[#remaining + 1] = target end
    end
    if found and #remaining == 0 then
      redis.call('HDEL', KEYS[6], address)
    elseif found then
      redis.call('HSET', KEYS[6], address, cjson.encode(remaining))
    end
  end
end
redis.call('DEL', KEYS[7])
for _, key in ipairs(redis.call('HKEYS', KEYS[9])) do
  if redis.call('HGET', KEYS[8], key) == ARGV[1] then redis.call('HDEL', KEYS[8], key) end
end
redis.call('DEL', KEYS[9])
return 1
""")

# KEYS: principals, tokens, principal's tokens.  ARGV: principal id, token id, json.
# Reply: 1 | 0 (no such principal)
ADD_TOKEN = Script("add_token", r"""
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('SADD', KEYS[3], ARGV[2])
return 1
""")

# KEYS: tokens, principal's tokens.  Reply: the json of every live token in the index;
# ids of revoked tokens are dropped from the index on the way.
LIST_TOKENS = Script("list_tokens", r"""
local found = {}
for _, token_id in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local token = redis.call('HGET', KEYS[1], token_id)
  if token then found[#found + 1] = token else redis.call('SREM', KEYS[2], token_id) end
end
return found
""")

# KEYS: principals, aliases, then the alias index of every target.
# ARGV: address, json list of targets, target ids...  Reply: {'ok'} | {'missing', id}
SET_ALIAS = Script("set_alias", r"""
for i = 3, #ARGV do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 0 then return {'missing', ARGV[i]} end
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
for i = 3, #KEYS do redis.call('SADD', KEYS[i], ARGV[1]) end
return {'ok'}
""")

# KEYS: principals, addresses, principal's addresses.  ARGV: id, lowercased key, address.
# Reply: 'ok' | 'missing' (no such principal) | 'exists' (some principal has the address)
ADD_ADDRESS = Script("add_address", r"""
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 'missing' end
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then return 'exists' end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
return 'ok'
""")

# KEYS: addresses, principal's addresses.  ARGV: id, lowercased key.  Reply: 1 | 0 (not theirs)
REMOVE_ADDRESS = Script("remove_address", r"""
if redis.call('HGET', KEYS[1], ARGV[2]) ~= ARGV[1] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[2])
redis.call('HDEL', KEYS[2], ARGV[2])
return 1
""")

# KEYS: principal's addresses, aliases, principal's aliases.  ARGV: id.
# Reply: {own addresses, aliases still pointing at the principal}
ADDRESSES_OF = Script("addresses_of", r"""
local aliases = {}
for _, address in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  local targets = redis.call('HGET', KEYS[2], address)
  if targets then
    for _, target in ipairs(cjson.decode(targets)) do
      if target == ARGV[1] then aliases[#aliases + 1] = address; break end
    end
  end
end
return {redis.call('HVALS', KEYS[1]), aliases}
""")
