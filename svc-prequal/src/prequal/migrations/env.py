from kit.migrations import run_env
from prequal.models import Base

run_env(Base.metadata)
