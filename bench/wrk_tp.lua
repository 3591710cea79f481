-- wrk_tp.lua - a new W3C traceparent on every request (random trace-id
-- and parent-id, never all-zero), so that a shimmed client must re-tag
-- its socket for each request. The cost of building the request in Lua
-- is paid by both the baseline and the shimmed run of this variant.
math.randomseed(os.time())

local function r32()
	return math.random(1, 0x7fffffff)
end

request = function()
	wrk.headers["traceparent"] = string.format("00-%08x%08x%08x%08x-%08x%08x-01",
		r32(), r32(), r32(), r32(), r32(), r32())
	return wrk.format(nil, nil, wrk.headers)
end

done = function(summary, latency, requests)
	local e = summary.errors
	io.write(string.format("WRK requests %d duration_us %d p50_us %d p99_us %d errors %d\n",
		summary.requests, summary.duration, latency:percentile(50),
		latency:percentile(99), e.connect + e.read + e.write + e.status + e.timeout))
end
