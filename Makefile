# commandcenter: the README's set-up commands.
#
#   make up            the example stack on host ports 15000-15003
#   make test          every test (engine kit, module, examples, unit tests)
#   make engine        build and start the offline engine kit (no-op with Docker)
#   make engine-stop   stop the kit's engine, dnsmasq and registry
#   make engine-status what the kit runs, and which versions
#   make bench         start-up, rebuild and port benchmarks  -> bench/results.md
#                      (BENCH_PRUNE=yes adds the cold runs, which prune the
#                      engine's cache: every project's data on it goes)
#   make load          load through the stack's ports        -> bench/load.md

KIT := bash enginekit/kit.sh
PORTS ?= 15000:5432,15001:6379,15002:8000,15003:3000

.PHONY: engine engine-stop engine-status up test bench load

engine:
	$(KIT) up

engine-stop:
	$(KIT) stop

engine-status:
	$(KIT) status

up: engine
	dagger call stack --src=examples/commandcenter up --ports $(PORTS)

test: engine
	bash scripts/test.sh

bench: engine
	bash scripts/measure.sh bench

load: engine
	bash scripts/measure.sh load
