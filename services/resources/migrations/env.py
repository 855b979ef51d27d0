from services.resources.models import Base
from shared.migrations import run_env

run_env("resources", Base.metadata)
