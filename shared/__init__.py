"""The suite's common library: only what two or more services use."""

import warnings

# eventlet warns on import that it is in maintenance mode; nameko 2.14 requires it (see docs/adr).
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
