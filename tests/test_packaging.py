"""The sdist and wheel carry everything the program reads, its licences and its index metadata."""
from __future__ import annotations

import email
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from importlib import resources
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("sleepfm_engine", "sleepfm_gui")


def _tracked(folder: str) -> list[str]:
    """Files git tracks (and untracked, not ignored) below ``folder``, relative to the repository."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", folder],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return sorted(p for p in out.splitlines() if (ROOT / p).is_file())


@pytest.fixture(scope="module")
def dists(tmp_path_factory) -> dict[str, Path]:
    """The sdist and the wheel built from it, as a user's ``python -m build`` makes them."""
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return {"sdist": next(out.glob("*.tar.gz")), "wheel": next(out.glob("*.whl"))}


def test_every_package_folder_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {".".join(p.parent.relative_to(ROOT).parts)
               for top in PACKAGES for p in (ROOT / top).rglob("__init__.py")}
    assert on_disk - listed == set(), "package folders missing from [tool.setuptools] packages"
    assert "sleepfm_engine._resources" in listed


def test_wheel_carries_every_resource_file_inside_the_engine(dists):
    names = set(zipfile.ZipFile(dists["wheel"]).namelist())
    expected = {"sleepfm_engine/_resources/" + p.removeprefix("resources/") for p in _tracked("resources")}
    assert expected - names == set()
    for needed in ("channel_groups.json", "label_mapping.csv", "official_weights.json",
                   "ATTRIBUTION.md", "LICENSE.sleepfm-clinical", "models/demo/model_base/best.pt"):
        assert "sleepfm_engine/_resources/" + needed in names


def test_wheel_carries_every_module_of_both_packages(dists):
    names = set(zipfile.ZipFile(dists["wheel"]).namelist())
    expected = {p for top in PACKAGES for p in _tracked(top) if "__pycache__" not in p}
    assert expected - names == set()


def test_wheel_carries_the_project_licence_and_the_reference_notice(dists):
    wheel = zipfile.ZipFile(dists["wheel"])
    licences = {n.split("/licenses/", 1)[1]: wheel.read(n).decode() for n in wheel.namelist()
                if "/licenses/" in n}
    assert licences["LICENSE"].startswith("MIT License")
    assert "Zou Group" in licences["resources/LICENSE.sleepfm-clinical"]


def test_sdist_carries_resources_licence_and_readme(dists):
    with tarfile.open(dists["sdist"]) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    assert {"LICENSE", "README.md", "pyproject.toml"} <= names
    assert set(_tracked("resources")) - names == set()


def test_wheel_metadata_shows_description_urls_classifiers_keywords_and_readme(dists):
    wheel = zipfile.ZipFile(dists["wheel"])
    meta = email.message_from_bytes(wheel.read(next(n for n in wheel.namelist()
                                                    if n.endswith(".dist-info/METADATA"))))
    assert "polysomnography" in meta["Summary"]
    assert meta["License-Expression"] == "MIT"
    assert meta.get_all("Project-URL")
    assert any(c.startswith("Topic :: Scientific/Engineering :: Medical") for c in meta.get_all("Classifier"))
    assert "polysomnography" in meta["Keywords"]
    body = meta.get_payload().lstrip()
    first_paragraph = body.split("\n\n")[1]
    assert body.startswith("# SleepFM Studio")
    assert first_paragraph.startswith("SleepFM Studio is a desktop application")
    assert body.split("\n\n")[2] == "```\nmake run\nmake test\n```"


def test_resources_are_read_through_the_installed_package():
    from sleepfm_engine.resources import RESOURCES_PACKAGE, resource_dir, resource_path

    assert resource_dir() == Path(str(resources.files(RESOURCES_PACKAGE)))
    assert resource_path("channel_groups.json").is_file()
    with pytest.raises(FileNotFoundError, match="no-such-file"):
        resource_path("no-such-file.json")
