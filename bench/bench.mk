# make bench: overhead of the shim and throughput of the agent, measured
# side by side in one run (bench/run.sh; README section "Benchmarks").
# BENCH_QUICK=1 runs a short smoke version of every benchmark.
BENCH_TOOLS := $(BUILD)/bench/percall $(BUILD)/bench/httpsink $(BUILD)/bench/udpgen \
	$(BUILD)/bench/pcapgen $(BUILD)/bench/spansgen
bench_CFLAGS :=

$(BUILD)/bench/percall: $(BUILD)/bench/percall.o
	$(CC) $(ALL_LDFLAGS) -o $@ $^

$(BUILD)/bench/spansgen: $(BUILD)/bench/spansgen.o
	$(CC) $(ALL_LDFLAGS) -o $@ $^

$(BUILD)/bench/httpsink: $(BUILD)/bench/httpsink.o
	$(CC) $(ALL_LDFLAGS) -o $@ $^

$(BUILD)/bench/udpgen: $(BUILD)/bench/udpgen.o $(BUILD)/libclt.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(NL_LIBS)

$(BUILD)/bench/pcapgen: $(BUILD)/bench/pcapgen.o $(BUILD)/libclt.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(NL_LIBS)

.PHONY: bench-tools
bench-tools: $(BENCH_TOOLS)

bench:
	@scripts/deps.sh bench
	@$(MAKE) --no-print-directory all bench-tools
	@BUILD=$(BUILD) BENCH_QUICK=$(BENCH_QUICK) bench/run.sh

# tests/integration/bench_smoke.sh runs the tools: build them with the tests.
tests: $(BENCH_TOOLS)
