from gateway.models import Base
from kit.migrations import run_env

# The gateway keeps only its rate-limit counters: no outbox, no audit log, no idempotency keys.
run_env(Base.metadata, platform_tables=False)
