-- wrk script for side_by_side.py: POST one JMAP request (Mailbox/get, Email/query, Email/get by
-- result reference) over and over, and count the responses that are not a clean success.
--
--   BENCH_BODY_FILE=request.json BENCH_AUTH='Basic ...' wrk -t2 -c10 -d20s -s three_calls.lua URL
--
-- Counted per thread, summed in done() and printed as one line "BENCH {json}":
--   responses     every response seen
--   non2xx        HTTP status outside 200-299
--   jmap_errors   2xx whose body holds an error method response (["error", {...}, "..."])
--   incomplete    2xx without an Email/get response (the request-level error objects, say)
--   statuses      responses by HTTP status, and "sample": the start of the first failed body

local f = assert(io.open(os.getenv("BENCH_BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"
wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")

responses = 0
non2xx = 0
jmap_errors = 0
incomplete = 0
statuses = {}
sample = ""

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function response(status, headers, body)
  responses = responses + 1
  statuses[status] = (statuses[status] or 0) + 1
  local failed = true
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  elseif body:find('%[%s*"error"%s*,') then
    jmap_errors = jmap_errors + 1
  elseif not body:find('"Email/get"', 1, true) then
    incomplete = incomplete + 1
  else
    failed = false
  end
  if failed and sample == "" then
    sample = status .. " " .. body:sub(1, 200)
  end
end

function done(summary, latency, requests)
  local t = { responses = 0, non2xx = 0, jmap_errors = 0, incomplete = 0 }
  local by_status = {}
  local first = ""
  for _, thread in ipairs(threads) do
    for k, _ in pairs(t) do
      t[k] = t[k] + (thread:get(k) or 0)
    end
    for code, n in pairs(thread:get("statuses") or {}) do
      by_status[code] = (by_status[code] or 0) + n
    end
    if first == "" then
      first = thread:get("sample") or ""
    end
  end
  local parts = {}
  for code, n in pairs(by_status) do
    table.insert(parts, string.format('"%d": %d', code, n))
  end
  first = first:gsub('[%c\\"]', " ")
  io.write(string.format(
    'BENCH {"responses": %d, "non2xx": %d, "jmap_errors": %d, "incomplete": %d, ' ..
    '"socket_errors": %d, "timeouts": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"statuses": {%s}, "sample": "%s"}\n',
    t.responses, t.non2xx, t.jmap_errors, t.incomplete,
    summary.errors.connect + summary.errors.read + summary.errors.write, summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), table.concat(parts, ", "), first))
end
