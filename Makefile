# commandcenter: the README's set-up commands.
#
#   make cli           the host command, bin/commandcenter (up, ps, logs, restart, down)
#   make up            the example stack on host ports 15000-15003, under bin/commandcenter
#   make up-monorepo   the monorepo example's stack (workers, migrations, secrets)
#   make watch         the example stack with live reload: edits under
#                      examples/commandcenter reach the running services
#   make test          every test (engine kit, module, examples, unit tests)
#   make engine        build and start the offline engine kit (no-op with Docker)
#   make engine-stop   stop the kit's engine, dnsmasq and registry
#   make engine-status what the kit runs, and which versions
#   make engine-uninstall  remove what the kit added to the host (the engine's
#                      state, every project's data, stays unless KIT_UNINSTALL_DATA=yes)
#   make bench         start-up, rebuild and port benchmarks  -> bench/results.md
#                      (BENCH_PRUNE=yes adds the cold runs, which prune the
#                      engine's cache: every project's data on it goes)
#   make load          load through the stack's ports        -> bench/load.md

KIT := bash enginekit/kit.sh
PORTS ?= 15000:5432,15001:6379,15002:8000,15003:3000

.PHONY: engine engine-stop engine-status engine-uninstall cli up up-monorepo watch test bench load

engine:
	$(KIT) up

engine-stop:
	$(KIT) stop

engine-status:
	$(KIT) status

engine-uninstall:
	$(KIT) uninstall

# The host command and the watcher are built by the module for this
# machine, into bin/.
CLI := bin/commandcenter
WATCHER := bin/commandcenter-watch

cli: engine
	dagger call cli export --path=$(CLI) && echo

# The stack runs under the host command: it says when every service is
# ready, stops the stack cleanly on Ctrl-C, and ends when the stack ends.
up: cli
	$(CLI) up -- dagger call stack --src=examples/commandcenter up --ports $(PORTS)

watch: engine
	dagger call watcher export --path=$(WATCHER) && echo
	$(WATCHER) -- dagger call stack --src=examples/commandcenter up --ports $(PORTS)

# The monorepo example's SECRET_KEY comes from a secret env file; one with a
# random key is made when there is none.
MONOREPO_SECRETS := examples/monorepo/secrets.env

up-monorepo: cli
	@test -f $(MONOREPO_SECRETS) || { printf 'SECRET_KEY=%s\n' "$$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" > $(MONOREPO_SECRETS); chmod 600 $(MONOREPO_SECRETS); echo "made $(MONOREPO_SECRETS) with a random SECRET_KEY"; }
	$(CLI) up -- dagger call --project=monorepo \
	  with-backend --database-scheme=postgresql+asyncpg --prestart="alembic upgrade head" \
	  with-worker --name=worker --command="celery -A app.worker worker --pool=solo --loglevel=INFO" \
	  with-worker --name=beat --command="celery -A app.worker beat --loglevel=INFO --schedule=/app/storage/celerybeat-schedule" \
	  with-volume --path=/app/storage \
	  with-env --name=ENVIRONMENT --value=development \
	  with-secret-env-file --file=file:$(MONOREPO_SECRETS) \
	  stack --src=examples/monorepo up --ports $(PORTS)

test: engine
	bash scripts/test.sh

bench: engine
	bash scripts/measure.sh bench

load: engine
	bash scripts/measure.sh load
