"""What casework purges past retention: the common tables only for now (shared/upkeep.COMMON_CLASSES, ADR 0082).

Hook: the packs already schedule `case.closed` and `case.sealed`; the sealing workflow (issue #16 item 2)
adds their PurgeClass here once a case's sealing date is recorded, keyed on the case's outcome and closing.
"""

from __future__ import annotations

from shared.upkeep import PurgeClass

PURGE_CLASSES: tuple[PurgeClass, ...] = ()
