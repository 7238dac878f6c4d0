from gateway.models import Base
from kit.audit_anchor import anchor_metadata
from kit.migrations import run_env

# The gateway keeps its rate-limit counters and the audit checkpoints of every service (kit.audit_anchor):
# no outbox, no audit log, no idempotency keys.
run_env(Base.metadata, platform_tables=False, also=[anchor_metadata])
