# The CLT login demo (demo/demo.sh does the work; see README, "The demo").
#
#   make demo                    install what is missing, build, run, print the traces
#   make demo DEMO_ENTRY=nginx   the same with nginx (no OpenTelemetry) as athos
#   make demo-nginx              shorthand for the line above
#   make demo-legacy             athos a Python service with no tracing code (CLT_TRACING=inject)
#   make demo-up / demo-down     keep it running for a browser / stop it
#
# The script installs dependencies and builds before it starts, so these
# targets have no prerequisites: deps must be there before "make all".
DEMO_ENTRY ?= node

demo:
	@BUILD=$(BUILD) DEMO_ENTRY=$(DEMO_ENTRY) demo/demo.sh run

demo-nginx:
	@BUILD=$(BUILD) DEMO_ENTRY=nginx demo/demo.sh run

demo-legacy:
	@BUILD=$(BUILD) DEMO_ENTRY=legacy demo/demo.sh run

demo-up:
	@BUILD=$(BUILD) DEMO_ENTRY=$(DEMO_ENTRY) demo/demo.sh up

demo-down:
	@BUILD=$(BUILD) demo/demo.sh down

.PHONY: demo-nginx demo-legacy
