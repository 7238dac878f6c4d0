from kit.migrations import run_env
from matters.models import Base

run_env(Base.metadata)
