"""The vendored ECharts is the file its VERSION.json names, shipped with its licences."""

from __future__ import annotations

import hashlib

from proofstream.pages.assets import ASSET_DIR, SERVED, asset, echarts_version


def test_the_vendored_echarts_is_the_recorded_release() -> None:
    version = echarts_version()
    data = (ASSET_DIR / "echarts" / version["file"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == version["sha256"]
    assert version["package"] == "echarts" and version["tarball_integrity"].startswith("sha512-")
    assert f'"{version["version"]}"' in data.decode()  # echarts.version in the bundle
    assert "</script" not in data.decode().lower()  # safe to inline in a <script>


def test_its_licences_ship_beside_it_and_are_served() -> None:
    licence = (ASSET_DIR / "echarts" / "LICENSE").read_text()
    assert "Apache License" in licence and "Version 2.0" in licence
    assert "Apache ECharts" in (ASSET_DIR / "echarts" / "NOTICE").read_text()
    assert "Mike Bostock" in (ASSET_DIR / "echarts" / "LICENSE-d3").read_text()
    for name in SERVED:
        assert asset(name).text, name
