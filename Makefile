# The README's two commands: `make run` starts the whole suite, `make test` runs every test.
PYTHON ?= python3
UV = $(PYTHON) -m uv

.PHONY: setup web browser run check test test-unit contract bench eval migrate

setup:  ## install uv if missing, then the workspace from the lock file
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --disable-pip-version-check "uv>=0.9,<0.14"
	@$(UV) sync --frozen --quiet

# The web front end (web/): npm packages from the lock file, the typed client generated from the merged
# OpenAPI document (so it cannot drift from the API), type-checked and built into web/dist.
web/node_modules/.package-lock.json: web/package-lock.json web/package.json web/client/package.json
	@command -v npm >/dev/null || { echo "npm (Node.js 20.19+) is needed for the web front end" >&2; exit 1; }
	@cd web && npm ci --no-audit --no-fund --loglevel=error

web: setup web/node_modules/.package-lock.json  ## build the web front end into web/dist (served at /app/)
	@$(UV) run --frozen lvrong-openapi web/client/openapi.json
	@cd web && npm run --silent generate >/dev/null && npm run --silent build >/dev/null

# A Chinese font too: without one the screenshots show boxes where the characters are.
browser:  ## Debian's Chromium and a CJK font for the browser tests (never a browser downloaded by a test tool)
	@{ command -v chromium >/dev/null && fc-list :lang=zh | grep -q .; } || { apt-get update -qq \
		&& DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null; }

run: setup web  ## local PostgreSQL + NATS unless DATABASE_URL / NATS_URL are set, migrations, six processes
	@$(UV) run --frozen lvrong-run

# Two sessions side by side (tests/run_sessions.py): the integration suite with the browser in one, the
# unit, fault, production and scale tests in the other.
test: setup web browser  ## unit, integration and browser tests against real PostgreSQL and NATS
	@$(UV) run --frozen python tests/run_sessions.py

test-unit: setup
	@$(UV) run --frozen pytest tests/kit tests/matters

contract: setup  ## Schemathesis, every check and phase, 25 examples per operation (CI: 5), through the gateway
	@SCHEMATHESIS_MAX_EXAMPLES=$${SCHEMATHESIS_MAX_EXAMPLES:-25} SCHEMATHESIS_TIMEOUT=$${SCHEMATHESIS_TIMEOUT:-1500} \
		$(UV) run --frozen pytest tests/integration/test_schemathesis.py

bench: setup  ## performance figures, printed and compared with a baseline measured in the same run
	@$(UV) run --frozen python tests/bench/bench_gateway.py
	@$(UV) run --frozen python tests/bench/bench_prereview.py
	@$(UV) run --frozen python tests/bench/bench_submissions.py
	@$(UV) run --frozen python tests/bench/bench_cockpit.py
	@$(UV) run --frozen python tests/bench/bench_scale.py
	@$(UV) run --frozen python tests/bench/bench_reads.py
	@$(UV) run --frozen python tests/bench/bench_gm.py
	@$(UV) run --frozen python tests/bench/bench_booking.py
	@$(UV) run --frozen python tests/bench/bench_pipeline_cpu.py --gateway

eval: setup  ## the smart assistant, cross-validated on the held questions and through the gateway: top-1, recall@3, MRR, hand-over precision/recall, dialogues
	@$(UV) run --frozen python tests/bench/bench_knowledge.py

migrate: setup  ## apply every service's migrations to the configured DATABASE_URL (production: lvrong-migrate)
	@$(UV) run --frozen lvrong-migrate

check: setup  ## ruff, mypy over the packages listed in pyproject.toml's [tool.mypy], the architecture's import contracts (CI runs this before the tests)
	@$(UV) run --frozen ruff check .
	@$(UV) run --frozen mypy
	@$(UV) run --frozen lint-imports --no-cache
