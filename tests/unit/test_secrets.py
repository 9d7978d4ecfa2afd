"""Every secret is read from its file in the secrets directory, and none ever shows in
``repr``, the child-process environment, a validation error or the CLI's error line.

These pin pydantic-settings' ``NestedSecretsSettingsSource`` behaviour as configured
in ``proofstream.settings`` (file ``<section>__<field>``, whitespace stripped, a file
winning over an environment variable), so an upgrade that changes it fails here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from proofstream.settings import Settings, secret_files, settings_env

# Every secret the project knows, by file name. A new SecretStr field fails
# test_every_secret_field_is_listed until it is added here and to SECURITY.md.
EXPECTED = {
    "kafka__sasl_password": ("kafka", "sasl_password"),
    "kafka__ssl_key_password": ("kafka", "ssl_key_password"),
    "clickhouse__password": ("clickhouse", "password"),
    "openlineage__api_key": ("openlineage", "api_key"),
    "rdf__password": ("rdf", "password"),
    "datahub__token": ("datahub", "token"),
    "chronicle__signing_key_passphrase": ("chronicle", "signing_key_passphrase"),
    "processors__api_token": ("processors", "api_token"),
}
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _no_proofstream_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests build Settings from files and chosen variables only: the caller's
    PROOFSTREAM_* (CI points the tests at another broker) must not leak in."""
    for key in list(os.environ):
        if key.startswith("PROOFSTREAM_"):
            monkeypatch.delenv(key)


def _value(settings: Settings, section: str, field: str) -> str:
    secret = getattr(getattr(settings, section), field)
    assert isinstance(secret, SecretStr), f"{section}.{field} is {secret!r}"
    return secret.get_secret_value()


def _secrets_dir(tmp_path: Path) -> dict[str, str]:
    """A file per secret, each with a distinct value (and a trailing newline, as
    ``echo`` and most secret mounts write it)."""
    values = {name: f"s3cr3t-{i}-{name}" for i, name in enumerate(EXPECTED)}
    for name, value in values.items():
        (tmp_path / name).write_text(value + "\n")
    return values


def test_every_secret_field_is_listed() -> None:
    assert set(secret_files()) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_secret_is_read_from_its_file(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text("  from-the-file\n")
    section, field = EXPECTED[name]
    settings = Settings(_secrets_dir=tmp_path)
    assert _value(settings, section, field) == "from-the-file"
    # the other settings of that section keep their defaults
    assert settings.kafka.bootstrap_servers == "127.0.0.1:9092"


def test_a_file_wins_over_the_environment_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "kafka__sasl_password").write_text("from-file")
    monkeypatch.setenv("PROOFSTREAM_KAFKA__SASL_PASSWORD", "from-env")
    monkeypatch.setenv("PROOFSTREAM_KAFKA__SASL_USERNAME", "svc")
    settings = Settings(_secrets_dir=tmp_path)
    assert _value(settings, "kafka", "sasl_password") == "from-file"
    assert settings.kafka.sasl_username == "svc"  # env and files merge per field


def test_the_environment_is_the_fallback_without_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROOFSTREAM_DATAHUB__TOKEN", "from-env")
    assert _value(Settings(_secrets_dir=tmp_path), "datahub", "token") == "from-env"


def test_no_secret_in_repr_dump_or_child_env(tmp_path: Path) -> None:
    values = _secrets_dir(tmp_path)
    settings = Settings(_secrets_dir=tmp_path)
    for name, (section, field) in EXPECTED.items():
        assert _value(settings, section, field) == values[name]
    shown = [repr(settings), str(settings), settings.model_dump_json()]
    env = settings_env(settings)
    for value in values.values():
        assert not any(value in text for text in shown)
        assert not any(value in v for v in env.values())
    # and no variable for a secret at all, not even a masked one
    for name in EXPECTED:
        assert f"PROOFSTREAM_{name.upper()}" not in env


def test_settings_env_rebuilds_the_same_non_secret_settings(tmp_path: Path) -> None:
    settings = Settings(
        state_dir=tmp_path / "state",
        kafka={"bootstrap_servers": "h:1", "sasl_username": "svc", "sasl_password": "x"},
        processors={"projections": ["facts"], "web_port": 7777, "api_token": "t"},
    )
    env = settings_env(settings)
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "from proofstream.settings import Settings; s = Settings(); "
            "print(s.kafka.bootstrap_servers, s.kafka.sasl_username, s.processors.projections,"
            " s.processors.web_port, s.kafka.sasl_password, s.processors.api_token)",
        ],
        env={"PATH": os.environ.get("PATH", ""), **env},
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    assert child.stdout.split() == ["h:1", "svc", "('facts',)", "7777", "None", "None"]


def test_a_clickhouse_dsn_with_a_password_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(clickhouse={"dsn": "https://analyst:hunter2@ch.example:8443"})
    text = str(caught.value)
    assert "clickhouse__password" in text
    assert "hunter2" not in text
    assert "ch.example" not in text  # the input is not shown at all


def test_a_clickhouse_dsn_without_password_is_kept() -> None:
    settings = Settings(clickhouse={"dsn": "https://analyst@ch.example:8443", "password": "pw"})
    assert settings.clickhouse.dsn == "https://analyst@ch.example:8443"
    assert _value(settings, "clickhouse", "password") == "pw"


def test_cli_bad_dsn_fails_with_one_line_and_no_password(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PROOFSTREAM_STATE_DIR": str(tmp_path),
        "PROOFSTREAM_SECRETS_DIR": str(tmp_path / "none"),
        "PROOFSTREAM_CLICKHOUSE__DSN": "http://u:hunter2@localhost:8123",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "proofstream", "query", "SELECT 1"],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "hunter2" not in proc.stdout + proc.stderr
    assert "clickhouse__password" in proc.stderr


def test_secret_files_are_documented_in_security_md() -> None:
    text = (ROOT / "SECURITY.md").read_text()
    missing = [name for name in EXPECTED if f"`{name}`" not in text]
    assert not missing, f"SECURITY.md does not name: {missing}"
