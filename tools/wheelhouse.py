"""Download every wheel `pip install nasbench[lab]` needs on a laptop of another OS, for a lab
without internet.

    python tools/wheelhouse.py linux-x86_64 windows-x86_64 macos-arm64 [--out wheelhouse]
    python tools/wheelhouse.py all

Each platform gets its own folder, wheelhouse/<platform>/, holding nasbench's own wheel and every
dependency as a binary wheel for CPython 3.11 (`--python` changes it); a student installs from it
with no network:

    python -m pip install --no-index --find-links wheelhouse/<platform> "nasbench[lab]"

Why two tools: `pip download --platform` picks wheels for the target, but evaluates environment
markers against the machine it runs on (pypa/pip#4304, #13442): from Linux, for Windows, it asks
for torch's CUDA libraries (and fails: they have no Windows wheel of that version), and it would
leave out pywinpty and colorama. uv resolves for a named target platform (`uv pip compile
--python-platform`), so uv writes the exact list and pip downloads exactly that list (`--no-deps`). The check at the end resolves `nasbench[lab]` again for the
target, offline, from the folder alone: what the student's pip will do.

Linux: PyPI's torch wheel for Linux depends on the CUDA libraries (several GB); the CPU-only build
of the same version is on PyTorch's own index, used by default (`--torch-index cpu`).
`--torch-index pypi` takes PyPI's wheel instead; `--torch-index URL` a mirror of the CPU index.
Windows and macOS wheels on PyPI are CPU-only already (macOS: CPU and Apple's MPS).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

from uv import find_uv_bin

REPO_ROOT = Path(__file__).resolve().parents[1]
CPU_INDEX = "https://download.pytorch.org/whl/cpu"

# name -> (uv's --python-platform, pip's --platform tags, where the CPU-only torch comes from)
# torch 2.14.1 ships manylinux_2_28 (glibc 2.28: Debian 10, Ubuntu 20.04, RHEL 8 and later) and
# macosx_14_0_arm64 (macOS 14 on Apple silicon); no wheel for Intel Macs.
# pip expands a macOS tag to the older macOS versions itself, but not a manylinux one.
PLATFORMS = {
    "linux-x86_64": (
        "x86_64-manylinux_2_28",
        [f"manylinux_2_{minor}_x86_64" for minor in range(28, 4, -1)]
        + ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"],
        "cpu",
    ),
    "windows-x86_64": ("x86_64-pc-windows-msvc", ["win_amd64"], "pypi"),
    "macos-arm64": ("aarch64-apple-darwin", ["macosx_14_0_arm64"], "pypi"),
}
MACOS_TARGET = "14.0"  # torch's macOS wheels need macOS 14


def run(cmd, **kwargs):
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, **kwargs)


def uv_env():
    return {**os.environ, "MACOSX_DEPLOYMENT_TARGET": MACOS_TARGET}


def torch_index_args(choice, default):
    """uv/pip options that make torch come from the CPU index (none when it comes from PyPI)."""
    index = default if choice is None else choice
    if index == "pypi":
        return []
    url = CPU_INDEX if index == "cpu" else index
    try:
        if url.startswith(("http://", "https://")):
            urllib.request.urlopen(f"{url.rstrip('/')}/torch/", timeout=20).close()
    except OSError as err:
        sys.exit(f"cannot reach {url} ({err}): give a reachable mirror of it with --torch-index URL, "
                 "or take PyPI's torch with its CUDA libraries (--torch-index pypi)")
    # torch==2.14.1 also matches 2.14.1+cpu, the higher version of the two, so the best match
    # across PyPI and the CPU index is the CPU build; everything else still comes from PyPI.
    return ["--extra-index-url", url]


def build_own_wheel(dest):
    """nasbench's wheel (pure Python: one file serves every platform)."""
    for old in dest.glob("nasbench-*.whl"):
        old.unlink()
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", dest, REPO_ROOT])


def resolve(name, python, index_args, out):
    """The pinned list of what nasbench[lab] installs on `name`, markers evaluated for it."""
    uv_platform = PLATFORMS[name][0]
    pins = out / "requirements.txt"
    strategy = ["--index-strategy", "unsafe-best-match"] if index_args else []
    run(
        [find_uv_bin(), "pip", "compile", REPO_ROOT / "pyproject.toml", "--extra", "lab",
         "--python-platform", uv_platform, "--python-version", python,
         "--only-binary", ":all:", "--no-header", "--no-annotate", "-o", pins,
         *index_args, *strategy],
        env=uv_env(),
    )
    return pins


def download(name, python, index_args, pins, out):
    tags = [arg for tag in PLATFORMS[name][1] for arg in ("--platform", tag)]
    run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", *tags,
         "--python-version", python, "--implementation", "cp", "-d", out, "-r", pins,
         *index_args]
    )


def check_offline(name, python, out):
    """Resolve nasbench[lab] for the target from the folder alone, as the student's pip will."""
    with tempfile.TemporaryDirectory() as tmp:
        run(
            [find_uv_bin(), "pip", "compile", "-", "--offline", "--no-index", "--find-links", out,
             "--python-platform", PLATFORMS[name][0], "--python-version", python,
             "--only-binary", ":all:", "--no-header", "--quiet", "-o", Path(tmp) / "check.txt"],
            input=b"nasbench[lab]\n",
            env=uv_env(),
        )


def report(name, out):
    wheels = sorted(out.glob("*.whl"), key=lambda p: p.stat().st_size, reverse=True)
    total = sum(p.stat().st_size for p in wheels)
    print(f"{name}: {len(wheels)} wheels, {total / 1e6:.0f} MB in {out}")
    for p in wheels[:4]:
        print(f"    {p.stat().st_size / 1e6:8.1f} MB  {p.name}")
    return total


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("platforms", nargs="+", choices=[*PLATFORMS, "all"])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "wheelhouse")
    parser.add_argument("--python", default="3.11", help="the students' Python (default 3.11)")
    parser.add_argument(
        "--torch-index", default=None,
        help="Linux torch from 'cpu' (PyTorch's CPU index, the default), 'pypi' (with CUDA), "
        "or the URL of a mirror of the CPU index",
    )
    args = parser.parse_args(argv)
    names = list(PLATFORMS) if "all" in args.platforms else args.platforms
    for name in names:
        out = args.out / name
        if out.exists():
            shutil.rmtree(out)  # no wheel of an earlier pin set may linger
        out.mkdir(parents=True)
        index_args = torch_index_args(args.torch_index, PLATFORMS[name][2])
        build_own_wheel(out)
        pins = resolve(name, args.python, index_args, out)
        download(name, args.python, index_args, pins, out)
        check_offline(name, args.python, out)
        report(name, out)
        print(f'install: python{args.python} -m pip install --no-index --find-links {out} '
              '"nasbench[lab]"')


if __name__ == "__main__":
    main()
