"""The schema-evolution gate: passes on the repo, fails naming the field otherwise."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from proofstream.cli.schemas import app
from proofstream.schema_gate import check_schemas, find_problems
from schemas.catalog import AVRO_ROOT
from schemas.errors import IncompatibleSchemaError, SchemaError


def _copy_root(tmp_path: Path) -> Path:
    root = tmp_path / "avro"
    shutil.copytree(AVRO_ROOT, root)
    return root


def test_repo_schemas_pass() -> None:
    report = check_schemas()
    assert report.event_types == 20
    assert report.pairs_checked >= 1  # tool.invoked v1 -> v2
    assert report.upcast_steps == 1  # lineage.declared v1 -> v2


def test_cli_check_passes_on_the_repo() -> None:
    result = CliRunner().invoke(app, ["check"])
    assert result.exit_code == 0, result.output
    assert "schemas ok" in result.output


def _add_version(root: Path, name: str, edit: object) -> None:
    schema = (
        json.loads((root / "v2" / name).read_text())
        if (root / "v2" / name).exists()
        else (json.loads((root / "v1" / name).read_text()))
    )
    assert callable(edit)
    edit(schema)
    (root / "v3").mkdir(exist_ok=True)
    (root / "v3" / name).write_text(json.dumps(schema))


def test_a_new_required_field_fails_naming_it(tmp_path: Path) -> None:
    root = _copy_root(tmp_path)
    _add_version(
        root,
        "RunStarted.avsc",
        lambda s: s["fields"].append({"name": "budget", "type": "long", "doc": "no default"}),
    )
    with pytest.raises(IncompatibleSchemaError) as info:
        check_schemas(root)
    assert info.value.schema == "v3/RunStarted.avsc"
    assert info.value.field == "budget"
    result = CliRunner().invoke(app, ["check", "--root", str(root)])
    assert result.exit_code == 1
    assert "v3/RunStarted.avsc: budget:" in result.output


def test_a_nested_type_change_is_found_transitively(tmp_path: Path) -> None:
    root = _copy_root(tmp_path)

    def retype(schema: dict) -> None:  # type: ignore[type-arg]
        producer = next(f for f in schema["fields"] if f["name"] == "producer")
        producer["type"]["fields"][0]["type"] = "int"

    _add_version(root, "ToolInvoked.avsc", retype)
    problems, _ = find_problems(root)
    labels = {(p.schema, p.field) for p in problems if isinstance(p, IncompatibleSchemaError)}
    # v3 must read both v2 and (transitively) v1 data.
    assert labels == {("v3/ToolInvoked.avsc", "producer.service")}
    assert len(problems) == 2


def test_a_changed_released_file_fails(tmp_path: Path) -> None:
    root = _copy_root(tmp_path)
    path = root / "v1" / "RunStarted.avsc"
    path.write_text(path.read_text().replace("What the run is meant", "What the run should"))
    with pytest.raises(SchemaError, match=r"v1/RunStarted.avsc: released schema changed"):
        check_schemas(root)
