# The README's two commands: `make run` starts the whole suite, `make test` runs every test.
PYTHON ?= python3
UV = $(PYTHON) -m uv

.PHONY: setup run check test test-unit contract bench eval migrate

setup:  ## install uv if missing, then the workspace from the lock file
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --disable-pip-version-check "uv>=0.9,<0.14"
	@$(UV) sync --frozen --quiet

run: setup  ## local PostgreSQL + NATS unless DATABASE_URL / NATS_URL are set, migrations, six processes
	@$(UV) run --frozen lvrong-run

test: setup  ## unit and integration tests against real PostgreSQL and NATS
	@$(UV) run --frozen pytest

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

eval: setup  ## the smart assistant on the shared development set: top-1, recall@3, MRR, hand-over precision/recall, dialogues
	@$(UV) run --frozen python tests/bench/bench_knowledge.py

migrate: setup  ## apply every service's migrations to the configured DATABASE_URL (production: lvrong-migrate)
	@$(UV) run --frozen lvrong-migrate

check: setup  ## ruff, mypy over the packages listed in pyproject.toml's [tool.mypy], the architecture's import contracts (CI runs this before the tests)
	@$(UV) run --frozen ruff check .
	@$(UV) run --frozen mypy
	@$(UV) run --frozen lint-imports --no-cache
