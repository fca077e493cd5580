"""Read commands start fast: the schema version is checked with one query (no Alembic) and only the modules a
command uses are loaded; the head revision known without Alembic is Alembic's own."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from archive.config import Settings
from archive.db import MIGRATIONS, alembic_config, head_revision, make_engine
from tests.test_tasks import env_for

# What a read command must not load: the migration machinery and the stages' heavy libraries.
HEAVY = ("alembic", "requests", "cryptography", "rfc3161_client", "cdxj_indexer", "warcio", "boto3", "yt_dlp",
         "scrapy", "twisted", "apprise", "celery", "fastapi", "trafilatura", "playwright", "pkg_resources")
PROBE = """
import json, sys
from archive.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "loaded": sorted(name for name in %r if name in sys.modules)}), file=sys.stderr)
"""


def test_the_head_revision_is_alembics_and_each_file_names_its_revision(settings: Settings) -> None:
    from alembic.script import ScriptDirectory

    engine = make_engine(settings.database_url)
    try:
        script = ScriptDirectory.from_config(alembic_config(engine))
        assert head_revision() == script.get_current_head()
    finally:
        engine.dispose()
    for path in sorted((MIGRATIONS / "versions").glob("[0-9]*_*.py")):
        revision = re.search(r"^revision(?:: str)? = ['\"](\w+)['\"]", path.read_text(), re.M)
        assert revision and revision.group(1) == path.name.split("_", 1)[0], f"{path.name} holds {revision}"


@pytest.mark.parametrize("command", [["status", "https://news.example/a"], ["list"], ["collections"],
                                     ["list", "--json"]])
def test_a_read_command_loads_neither_alembic_nor_the_stages(settings: Settings, run, command: list[str],  # type: ignore[no-untyped-def]
                                                             tmp_path: Path) -> None:
    assert run("add", "-c", "news", "https://news.example/a")[0] == 0  # the database is made and migrated here
    done = subprocess.run([sys.executable, "-c", PROBE % (HEAVY,), *command], env=env_for(settings),
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    result = json.loads(done.stderr.strip().splitlines()[-1])
    assert result == {"code": 0, "loaded": []}, done.stderr[-2000:]
