"""pyproject.toml and environment.yml agree, and the pinned torch/torchvision pair loads."""

import json
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO_ROOT = Path(__file__).resolve().parents[1]

# pip name -> conda-forge name, where they differ.
PIP_TO_CONDA = {
    "torch": "pytorch",
    "graphviz": "python-graphviz",
}
EXCLUDED_EXTRAS = {"ray"}  # optional, and not something a lab laptop needs


def _venv_extras():
    """The extras `make venv` installs (read from the Makefile, so the two cannot drift)."""
    match = re.search(r'pip install -e "\.\[([a-z,]+)\]"', (REPO_ROOT / "Makefile").read_text())
    assert match, "the Makefile's venv rule no longer installs `-e .[extras]`"
    return set(match.group(1).split(","))


def _pyproject():
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def _pip_requirements(extras=None):
    """Every requirement of the package and of `extras` (default: all but the excluded ones)."""
    project = _pyproject()["project"]
    lines = list(project["dependencies"])
    for extra, deps in project["optional-dependencies"].items():
        if (extra in extras) if extras is not None else (extra not in EXCLUDED_EXTRAS):
            lines += deps
    reqs = {}
    for line in lines:
        req = Requirement(line)
        reqs[canonicalize_name(req.name)] = req  # the same package in two extras: same spec
    return reqs


def _conda_env():
    return yaml.safe_load((REPO_ROOT / "environment.yml").read_text())


def _conda_packages():
    """conda name -> set of version constraints, e.g. {"pytorch": {"==2.14.1"}}."""
    packages = {}
    for dep in _conda_env()["dependencies"]:
        if not isinstance(dep, str):
            continue  # the pip: subsection
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*(.*)", dep.strip())
        assert match, f"cannot read conda dependency {dep!r}"
        name, spec = match.groups()
        packages[name.lower()] = {s.strip() for s in spec.split(",") if s.strip()}
    return packages


def _spec_set(req):
    return {str(s) for s in req.specifier}


def test_conda_env_uses_conda_forge_only():
    assert _conda_env()["channels"] == ["conda-forge", "nodefaults"]


def test_conda_env_installs_this_package_with_pip():
    pip_sections = [d["pip"] for d in _conda_env()["dependencies"] if isinstance(d, dict)]
    assert pip_sections == [["-e ."]]


def test_conda_env_python_satisfies_requires_python():
    python = _conda_packages()["python"]
    assert len(python) == 1
    version = next(iter(python)).lstrip("=")
    requires = _pyproject()["project"]["requires-python"]
    assert Requirement(f"python{requires}").specifier.contains(version)


@pytest.mark.parametrize("name", sorted(_pip_requirements()))
def test_pip_dependency_is_in_conda_env_with_same_pin(name):
    req = _pip_requirements()[name]
    conda_name = PIP_TO_CONDA.get(name, name)
    conda = _conda_packages()
    assert conda_name in conda, f"{req} is missing from environment.yml (as {conda_name})"
    assert conda[conda_name] == _spec_set(req), (
        f"pyproject.toml says {req}, environment.yml says {conda_name} {conda[conda_name]}"
    )


def test_conda_env_has_no_package_that_pyproject_lacks():
    known = {PIP_TO_CONDA.get(n, n) for n in _pip_requirements()}
    extra = set(_conda_packages()) - known - {"python", "pip", "graphviz"}
    assert not extra, f"environment.yml has packages pyproject.toml lacks: {sorted(extra)}"


def test_conda_env_brings_the_dot_program():
    # python-graphviz only calls `dot`; conda-forge's `graphviz` package provides it.
    assert "graphviz" in _conda_packages()


@pytest.mark.parametrize("name", sorted(_pip_requirements(_venv_extras())))
def test_installed_version_matches_pyproject(name):
    # Only what `make venv` installs: `make mutants` adds mutmut on demand, CI never does.
    req = _pip_requirements(_venv_extras())[name]
    try:
        version = metadata.version(req.name)
    except metadata.PackageNotFoundError:
        pytest.fail(f"{req.name} is not installed; run `make venv`")
    assert req.specifier.contains(version, prereleases=True), f"installed {version}, want {req}"


def test_torch_and_torchvision_load_together():
    # A fresh interpreter, so nothing imported by other tests hides a failing import.
    code = (
        "import json, torch, torchvision\n"
        "boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]])\n"
        "kept = torchvision.ops.nms(boxes, torch.tensor([0.9, 0.8]), 0.5)\n"  # a compiled op
        "print(json.dumps([torch.__version__, torchvision.__version__, kept.tolist()]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    torch_version, vision_version, kept = json.loads(out.stdout.strip().splitlines()[-1])
    reqs = _pip_requirements()
    assert reqs["torch"].specifier.contains(torch_version), torch_version
    assert reqs["torchvision"].specifier.contains(vision_version), vision_version
    assert kept == [0]
