"""The views' front end lives in widgets/ (a JS package of its own, tested by node); the module
the wheel ships is its build, and the Python side loads that module."""
import json
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from nasbench.widgets import live

ROOT = Path(__file__).resolve().parents[1]


def test_the_package_installs_nothing_from_the_network():
    package = json.loads((ROOT / "widgets" / "package.json").read_text())
    assert not {"dependencies", "devDependencies", "peerDependencies", "optionalDependencies"} & set(package)
    assert package["scripts"]["test"] == "node --test" and package["engines"]["node"] == ">=20"


def test_the_wheel_ships_the_module_the_widget_loads():
    shipped = ROOT / "nasbench" / "widgets" / "static" / "view.js"
    assert live.STATIC / "view.js" == shipped and shipped.is_file()
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["nasbench"]
    assert "widgets/static/*" in data


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed (make test requires it)")
def test_the_shipped_module_is_the_build_of_widgets_src():
    out = subprocess.run(["node", "widgets/build.mjs", "--check"], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
