"""The queue's Lua scripts: every step that must be atomic, run with EVAL on all three backends.

Key names are never written here: the caller passes them from `Keys`, as KEYS when the script knows
them in advance, and as the two halves of a key template in ARGV (`head .. worker_id .. tail`) when the
script finds the worker ids itself.
"""

from __future__ import annotations

# Refreshing a lease is one `SET … GET`; the worker (re-)registers only when its lease had lapsed (first poll,
# or after the reaper wrote it off) or its published fields changed. An idle poll is thus SET + LMOVE.
_REGISTER = """
local previous = redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'GET')
if (not previous) or ARGV[4] == '1' then
  redis.call('SADD', KEYS[3], ARGV[1])
  redis.call('HDEL', KEYS[2], 'offline_since')
  redis.call('HSET', KEYS[2], unpack(ARGV, 5))
end
if ARGV[3] ~= '' then
  redis.call('SET', KEYS[4], ARGV[3])
  redis.call('HSET', KEYS[2], 'status', ARGV[3])
end
"""

# KEYS: lease, worker hash, workers set, status, queue, processing.
# ARGV: worker id, lease ms, status or '', fields changed (1/0), fields…
POLL = _REGISTER + "return redis.call('LMOVE', KEYS[5], KEYS[6], 'LEFT', 'RIGHT')"

# KEYS: lease, worker hash, workers set, status. ARGV: as POLL.
HEARTBEAT = _REGISTER + "return 1"

# Check the cap and push in one step. A repository already waiting in the queue returns that job.
# KEYS: queue, pending, job hash. ARGV: repo key, payload, max size, retention seconds, hash fields…
SUBMIT = """
local existing = redis.call('HGET', KEYS[2], ARGV[1])
if existing then
  local index = redis.call('LPOS', KEYS[1], existing)
  if index then
    return {'existing', existing, index + 1, redis.call('LLEN', KEYS[1])}
  end
  redis.call('HDEL', KEYS[2], ARGV[1])
end
local size = redis.call('LLEN', KEYS[1])
if size >= tonumber(ARGV[3]) then
  return {'full', '', 0, size}
end
redis.call('RPUSH', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[3], unpack(ARGV, 5))
redis.call('EXPIRE', KEYS[3], ARGV[4])
return {'queued', ARGV[2], size + 1, size + 1}
"""

# KEYS: job, pending, status, worker hash, lease.
# ARGV: payload, repo key, worker id, now, retention, status, lease ms, job id, first stage,
# defaults for a missing record…
START = """
if redis.call('HGET', KEYS[2], ARGV[2]) == ARGV[1] then redis.call('HDEL', KEYS[2], ARGV[2]) end
for i = 10, #ARGV, 2 do redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) end
local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSET', KEYS[1], 'state', 'started', 'worker_id', ARGV[3], 'started_at', ARGV[4],
  'updated_at', ARGV[4], 'stage', ARGV[9], 'progress', '0')
redis.call('HDEL', KEYS[1], 'finished_at')
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('SET', KEYS[3], ARGV[6])
redis.call('SET', KEYS[5], ARGV[3], 'PX', ARGV[7])
redis.call('HSET', KEYS[4], 'status', ARGV[6], 'job_id', ARGV[8], 'repo_url', ARGV[2], 'stage', ARGV[9],
  'progress', '0', 'lease_ms', ARGV[7])
return attempts
"""

# KEYS: job, worker hash, status, lease. ARGV: worker id, status, stage, progress, now, lease ms.
REPORT = """
redis.call('SET', KEYS[4], ARGV[1], 'PX', ARGV[6])
if redis.call('HGET', KEYS[1], 'worker_id') == ARGV[1] and redis.call('HGET', KEYS[1], 'state') == 'started' then
  redis.call('HSET', KEYS[1], 'stage', ARGV[3], 'progress', ARGV[4], 'updated_at', ARGV[5])
end
redis.call('HSET', KEYS[2], 'status', ARGV[2], 'stage', ARGV[3], 'progress', ARGV[4], 'lease_ms', ARGV[6])
redis.call('SET', KEYS[3], ARGV[2])
return 1
"""

# KEYS: processing, job, history, status, worker hash, stats.
# ARGV: payload, history record, status, retention seconds, history cap, n, n stats field/increment pairs,
# job fields…
FINISH = """
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return 0 end
local fields = 7 + 2 * tonumber(ARGV[6])
redis.call('HSET', KEYS[2], unpack(ARGV, fields))
redis.call('EXPIRE', KEYS[2], ARGV[4])
redis.call('LPUSH', KEYS[3], ARGV[2])
redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[5]) - 1)
redis.call('SET', KEYS[4], ARGV[3])
redis.call('HSET', KEYS[5], 'status', ARGV[3], 'job_id', '', 'repo_url', '', 'stage', '', 'progress', '0')
for i = 7, fields - 1, 2 do redis.call('HINCRBYFLOAT', KEYS[6], ARGV[i], ARGV[i + 1]) end
return 1
"""

# KEYS: processing, queue, dead, job, history, stats, worker hash of the owner, status.
# ARGV: payload, max attempts, now, reason, count this attempt (1/0), dead-letter history record, history cap,
# the owner's new status or ''. The owner no longer holds the job, so its hash stops showing the job's stage;
# its new status lands in the same step, so no reader sees the job requeued or dead beside the old status.
REQUEUE = """
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return 'lost' end
local job_id = redis.call('HGET', KEYS[4], 'job_id')
if job_id and redis.call('HGET', KEYS[7], 'job_id') == job_id then
  redis.call('HSET', KEYS[7], 'job_id', '', 'repo_url', '', 'stage', '', 'progress', '0')
  if ARGV[8] ~= '' then
    redis.call('SET', KEYS[8], ARGV[8])
    redis.call('HSET', KEYS[7], 'status', ARGV[8])
  end
end
local attempts = tonumber(redis.call('HGET', KEYS[4], 'attempts') or '0')
if ARGV[5] == '0' and attempts > 0 then
  attempts = attempts - 1
  redis.call('HSET', KEYS[4], 'attempts', attempts)
end
if attempts >= tonumber(ARGV[2]) then
  redis.call('LPUSH', KEYS[3], ARGV[1])
  redis.call('HSET', KEYS[4], 'state', 'dead', 'error', ARGV[4], 'finished_at', ARGV[3], 'updated_at', ARGV[3],
    'stage', '', 'progress', '0')
  redis.call('LPUSH', KEYS[5], ARGV[6])
  redis.call('LTRIM', KEYS[5], 0, tonumber(ARGV[7]) - 1)
  redis.call('HINCRBY', KEYS[6], 'jobs:dead', 1)
  return 'dead'
end
redis.call('LPUSH', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[4], 'state', 'queued', 'error', ARGV[4], 'updated_at', ARGV[3], 'stage', '', 'progress', '0')
return 'queued'
"""

# KEYS: reaper lock, workers set. ARGV: lock owner, lock ms, lease key head and tail, processing key head and tail.
FIND_DEAD_WORKERS = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return nil end
local dead = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if redis.call('EXISTS', ARGV[3] .. id .. ARGV[4]) == 0 then
    table.insert(dead, {id, redis.call('LRANGE', ARGV[5] .. id .. ARGV[6], 0, -1)})
  end
end
return dead
"""

# KEYS: lease, processing, workers set, worker hash. ARGV: worker id. Forget a worker that holds nothing.
FORGET = """
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('LLEN', KEYS[2]) > 0 then return 0 end
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('DEL', KEYS[4])
return 1
"""

# KEYS: lease, workers set, worker hash, status. ARGV: worker id, offline status, lease key head and tail.
DEREGISTER = """
redis.call('DEL', KEYS[1], KEYS[3])
redis.call('SREM', KEYS[2], ARGV[1])
for _, id in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if redis.call('EXISTS', ARGV[3] .. id .. ARGV[4]) == 1 then return 0 end
end
redis.call('SET', KEYS[4], ARGV[2])
return 1
"""

# One round trip for the whole status view. KEYS: status key, workers set.
# ARGV: lease key head and tail, worker hash key head and tail, now (epoch seconds).
# Worker keys are derived from the set's members, which Upstash's default (global) script lock permits.
# A worker whose lease has run out is stamped with the first time a reader saw it so (`offline_since`), so
# that it can be shown offline for a while and then left out; registering again clears the stamp.
READ_STATUS = """
local out = {redis.call('GET', KEYS[1]) or ''}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local ttl = redis.call('PTTL', ARGV[1] .. id .. ARGV[2])
  local hash = ARGV[3] .. id .. ARGV[4]
  if ttl > 0 then
    redis.call('HDEL', hash, 'offline_since')
  elseif redis.call('EXISTS', hash) == 1 then
    redis.call('HSETNX', hash, 'offline_since', ARGV[5])
  end
  table.insert(out, {id, ttl, redis.call('HGETALL', hash)})
end
return out
"""

# The operator's controls (app.queue.control).

# A page of a list of payloads, each with its job record. KEYS: the list. ARGV: last index (-1: all), job key
# head and tail.
# Returns the list's length, then {payload, job hash fields} per entry (no fields for a payload without an id).
LIST_ENTRIES = """
local out = {redis.call('LLEN', KEYS[1])}
for _, payload in ipairs(redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]))) do
  local ok, task = pcall(cjson.decode, payload)
  local fields = {}
  if ok and type(task) == 'table' and type(task['job_id']) == 'string' then
    fields = redis.call('HGETALL', ARGV[2] .. task['job_id'] .. ARGV[3])
  end
  table.insert(out, {payload, fields})
end
return out
"""

# Take a waiting job out of the queue. KEYS: queue, pending, job, history, stats.
# ARGV: payload, repo key, now, history record, history cap, retention seconds, job fields…
# Returns 0 when the payload is no longer waiting (a worker claimed it meanwhile).
CANCEL = """
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return 0 end
if redis.call('HGET', KEYS[2], ARGV[2]) == ARGV[1] then redis.call('HDEL', KEYS[2], ARGV[2]) end
redis.call('HSET', KEYS[3], 'state', 'cancelled', 'finished_at', ARGV[3], 'updated_at', ARGV[3], 'stage', '',
  'progress', '0', unpack(ARGV, 7))
redis.call('EXPIRE', KEYS[3], ARGV[6])
redis.call('LPUSH', KEYS[4], ARGV[4])
redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[5]) - 1)
redis.call('HINCRBY', KEYS[5], 'jobs:cancelled', 1)
return 1
"""

# Give a dead job a fresh set of attempts at the tail of the queue, within the queue's cap.
# KEYS: dead, queue, pending, job. ARGV: dead payload, new payload, repo key, now, max queue size, retention
# seconds, job fields…  Returns {outcome, detail}: queued (new position), full (queue size),
# duplicate (the payload of the repository's job already waiting) or gone (no longer in the dead letters).
REQUEUE_DEAD = """
local waiting = redis.call('HGET', KEYS[3], ARGV[3])
if waiting and redis.call('LPOS', KEYS[2], waiting) then return {'duplicate', waiting} end
local size = redis.call('LLEN', KEYS[2])
if size >= tonumber(ARGV[5]) then return {'full', tostring(size)} end
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return {'gone', ''} end
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[3], ARGV[2])
redis.call('HDEL', KEYS[4], 'finished_at', 'started_at', 'worker_id', 'result')
redis.call('HSET', KEYS[4], 'state', 'queued', 'attempts', '0', 'stage', '', 'progress', '0',
  'updated_at', ARGV[4], unpack(ARGV, 7))
redis.call('EXPIRE', KEYS[4], ARGV[6])
return {'queued', tostring(size + 1)}
"""
