"""The resource directory's data and format core: HSDS 3.0 model, validation, import/export, need categories.

Pure Python (no nameko, no database): the resources service stores and serves what this produces.
"""

from .assemble import RecordIssue
from .export import InvalidHsdsExport, export_hsds, unreachable
from .hsds import UnknownHsdsKind, validate_hsds
from .importers import (
    CsvImporter,
    DirectoryImporter,
    HsdsJsonImporter,
    ImportResult,
    UnknownImporter,
    UnreadableSource,
    available_importers,
    get_importer,
    import_cli,
)
from .model import Directory
from .needs import NEED_CATEGORIES, NEED_TAXONOMY_NAME, categories_for_label, need_categories, stable_id
from .seed import SEED_PATH, build_seed_directory, load_seed_directory

__all__ = [
    "NEED_CATEGORIES",
    "NEED_TAXONOMY_NAME",
    "SEED_PATH",
    "CsvImporter",
    "Directory",
    "DirectoryImporter",
    "HsdsJsonImporter",
    "ImportResult",
    "InvalidHsdsExport",
    "RecordIssue",
    "UnknownHsdsKind",
    "UnknownImporter",
    "UnreadableSource",
    "available_importers",
    "build_seed_directory",
    "categories_for_label",
    "export_hsds",
    "get_importer",
    "import_cli",
    "load_seed_directory",
    "need_categories",
    "stable_id",
    "unreachable",
    "validate_hsds",
]
