-- bench/adapters: wrk drives both variants at once. Threads take turns: odd threads load the server
-- in PAIRED_FIRST, even threads the one in PAIRED_SECOND (each host:port), so with -t2 each variant
-- gets one thread and half the connections. done() prints each side's responses and non-200s.
local threads = {}

local function address(side)
  local host, port = os.getenv(side):match("^(.+):(%d+)$")
  return wrk.lookup(host, port)[1]
end

function setup(thread)
  local side = (#threads % 2 == 0) and "PAIRED_FIRST" or "PAIRED_SECOND"
  thread.addr = address(side)
  thread:set("side", side)
  table.insert(threads, thread)
end

function init(args)
  responses = 0
  failed = 0
end

function response(status, headers, body)
  responses = responses + 1
  if status ~= 200 then failed = failed + 1 end
end

function done(summary, latency, requests)
  for _, t in ipairs(threads) do
    io.write(string.format("%s %d %d\n", t:get("side"), t:get("responses"), t:get("failed")))
  end
end
