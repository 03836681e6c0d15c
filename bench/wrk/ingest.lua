-- POST /api/v1/ingestion/ingest with a distinct repository in every body: github.com/load/t<thread>-<n>.
-- Each wrk thread has its own Lua state; setup() numbers the threads so that no two bodies repeat.
-- The token comes from the environment (NEO_TOKEN); the path from wrk's URL.
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

local n = 0
local token = os.getenv("NEO_TOKEN") or ""
local run = os.getenv("NEO_RUN") or "0"

function request()
  n = n + 1
  local body = string.format('{"repo_url": "github.com/load%s/t%d-%d"}', run, tid, n)
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }, body)
end
