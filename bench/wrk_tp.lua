-- wrk_tp.lua - a traceparent header built in Lua on every request. By
-- default a new one each time (random trace-id and parent-id, never
-- all-zero), so that a shimmed client must re-tag its socket for each
-- request; with BENCH_TP_SAME=1 in the environment the same one every
-- time, so that the shim tags each connection once and only IOAM's own
-- per-packet work remains. Both variants, and the baseline without the
-- shim, pay the same cost of building the request in Lua.
math.randomseed(os.time())

local same = os.getenv("BENCH_TP_SAME") == "1"

local function r32()
	return math.random(1, 0x7fffffff)
end

local function new_tp()
	return string.format("00-%08x%08x%08x%08x-%08x%08x-01",
		r32(), r32(), r32(), r32(), r32(), r32())
end

local fixed = new_tp()

request = function()
	if same then
		-- Formatted like a new one, so the Lua work is the same.
		wrk.headers["traceparent"] = fixed
		new_tp()
	else
		wrk.headers["traceparent"] = new_tp()
	end
	return wrk.format(nil, nil, wrk.headers)
end

done = function(summary, latency, requests)
	local e = summary.errors
	io.write(string.format("WRK requests %d duration_us %d p50_us %d p99_us %d errors %d\n",
		summary.requests, summary.duration, latency:percentile(50),
		latency:percentile(99), e.connect + e.read + e.write + e.status + e.timeout))
end
