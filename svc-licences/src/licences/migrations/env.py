from kit.migrations import run_env
from licences.models import Base

run_env(Base.metadata)
