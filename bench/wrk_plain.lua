-- wrk_plain.lua - the same static request on every call (wrk's fast
-- path); prints one machine-readable line for bench/run.sh.
done = function(summary, latency, requests)
	local e = summary.errors
	io.write(string.format("WRK requests %d duration_us %d p50_us %d p99_us %d errors %d\n",
		summary.requests, summary.duration, latency:percentile(50),
		latency:percentile(99), e.connect + e.read + e.write + e.status + e.timeout))
end
