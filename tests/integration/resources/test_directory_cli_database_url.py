"""`diversion directory export --database-url`: the export reads the database it is told to, not the
settings' default (here the settings point at a SQLite file that must stay untouched)."""

from __future__ import annotations

import json
import uuid

from click.testing import CliRunner

from services.resources.cli import directory
from services.resources.directory import SEED_PATH, validate_hsds
from shared import migrations
from tests.conftest import create_database, drop_database


def test_export_reads_the_database_named_by_database_url(tmp_path):
    name = f"diversion_test_res_url_{uuid.uuid4().hex[:8]}"
    url = create_database(name)
    try:
        migrations.upgrade("resources", url)
        runner = CliRunner()
        stored = runner.invoke(directory, ["import", str(SEED_PATH)],
                               env={"DIVERSION_RESOURCES_DATABASE_URL": url}, catch_exceptions=False)
        assert stored.exit_code == 0, stored.output
        default = tmp_path / "default.db"
        out = tmp_path / "export.json"
        exported = runner.invoke(directory, ["export", str(out), "--database-url", url],
                                 env={"DIVERSION_RESOURCES_DATABASE_URL": f"sqlite:///{default}"},
                                 catch_exceptions=False)
        assert exported.exit_code == 0, exported.output
        documents = json.loads(out.read_text())
        assert len(documents) == 10
        assert all(validate_hsds("organization", document) == [] for document in documents)
        assert "Wrote 10 organizations" in exported.output
        assert not default.exists()
    finally:
        drop_database(name)
