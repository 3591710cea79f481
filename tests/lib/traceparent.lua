-- traceparent.lua - wrk script of the end-to-end tests: every request
-- carries its own traceparent, and each thread stops after a bounded
-- number of responses, so the run sends a known, small number of requests.
--
--   wrk -t2 -c4 -d3s -s traceparent.lua URL -- PER_THREAD RUN_ID
--
-- RUN_ID (8 hex digits) makes the trace-ids of one run distinct from any
-- other run's. Trace-id: run id, "c17e2e00", thread, counter; parent-id:
-- thread, counter (never all zero: the counter starts at 1).

local threads = 0

function setup(thread)
	threads = threads + 1
	thread:set("tid", threads)
end

function init(args)
	per_thread = tonumber(args[1]) or 50
	run_id = tonumber(args[2] or "1", 16) or 1
	sent = 0
	done = 0
end

function request()
	sent = sent + 1
	local tp = string.format("00-%08xc17e2e00%08x%08x-%08x%08x-01", run_id, tid, sent, tid, sent)
	return wrk.format("GET", "/wrk/" .. tid .. "/" .. sent, { ["traceparent"] = tp })
end

function response(status, headers, body)
	done = done + 1
	if done >= per_thread then
		wrk.thread:stop()
	end
end
