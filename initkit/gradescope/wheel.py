"""A wheel of the installed initkit, made from the package folder itself: the Gradescope image
installs the kit from it with `pip install`, without a source tree or a build backend.

Works the same from a regular install (site-packages/initkit, no source anywhere) and from an
editable one (the package folder is the checkout's initkit/). The wheel holds every file of the
package folder except bytecode caches and hidden files, and a .dist-info written here as PEP 427
says: METADATA, entry_points.txt, WHEEL, RECORD (sha256, urlsafe base64 without padding).

Where the metadata comes from: in a checkout (initkit/ beside a pyproject.toml naming the project
initkit), from pyproject.toml's [project] table, because the metadata an editable install wrote
goes stale when the dependencies change; otherwise from the installed distribution's METADATA and
entry_points.txt, which describe exactly the code installed beside them.

The archive is deterministic: sorted entries, a fixed timestamp, fixed permissions.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import zipfile
from email.message import Message
from pathlib import Path

import initkit

PROJECT = "initkit"
TAG = "py3-none-any"
_EPOCH = (1980, 1, 1, 0, 0, 0)
_SKIP_DIRS = {"__pycache__"}
_SKIP_SUFFIXES = (".pyc", ".pyo")


def package_folder() -> Path:
    return Path(initkit.__file__).resolve().parent


def package_files() -> list[tuple[str, Path]]:
    """(path in the wheel, file) of every file of the initkit package, sorted."""
    root = package_folder()
    found = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
        for name in sorted(names):
            path = Path(folder) / name
            if name.startswith(".") or name.endswith(_SKIP_SUFFIXES) or not path.is_file():
                continue
            found.append((f"{PROJECT}/{path.relative_to(root).as_posix()}", path))
    return sorted(found)


def _pyproject() -> dict | None:
    """[project] of the checkout the package folder sits in, or None (a regular install)."""
    import tomllib

    path = package_folder().parent / "pyproject.toml"
    try:
        project = tomllib.loads(path.read_text(encoding="utf-8")).get("project") or {}
    except (OSError, ValueError):
        return None
    return project if project.get("name") == PROJECT else None


def _metadata_from_pyproject(project: dict) -> tuple[str, str]:
    """Core metadata 2.1 and entry_points.txt from a PEP 621 [project] table (the fields pip
    uses to install: name, version, Requires-Python, Requires-Dist, extras, console scripts)."""
    meta = Message()
    meta["Metadata-Version"] = "2.1"
    meta["Name"] = project["name"]
    meta["Version"] = str(project.get("version") or initkit.__version__)
    if project.get("description"):
        meta["Summary"] = " ".join(str(project["description"]).split())
    license_ = project.get("license")
    if isinstance(license_, dict) and license_.get("text"):
        meta["License"] = license_["text"]
    if project.get("requires-python"):
        meta["Requires-Python"] = project["requires-python"]
    for requirement in project.get("dependencies") or []:
        meta["Requires-Dist"] = requirement
    for extra, requirements in (project.get("optional-dependencies") or {}).items():
        meta["Provides-Extra"] = extra
        for requirement in requirements:
            marker = f'extra == "{extra}"'
            meta["Requires-Dist"] = (f"{requirement} and {marker}" if ";" in requirement
                                     else f"{requirement}; {marker}")
    scripts = project.get("scripts") or {}
    entry_points = ("[console_scripts]\n" + "".join(f"{k} = {v}\n" for k, v in scripts.items())
                    if scripts else "")
    return meta.as_string(), entry_points


def _metadata_installed() -> tuple[str, str]:
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        dist = distribution(PROJECT)
    except PackageNotFoundError:
        raise RuntimeError("initkit is not installed (no distribution metadata): install it with "
                           "pip to build a Gradescope autograder") from None
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO")
    if not text:
        raise RuntimeError(f"the installed {PROJECT} has no METADATA")
    return text, dist.read_text("entry_points.txt") or ""


def metadata() -> tuple[str, str]:
    """(METADATA, entry_points.txt) of the wheel."""
    project = _pyproject()
    return _metadata_from_pyproject(project) if project else _metadata_installed()


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"sha256={digest.decode('ascii')}"


def _version(meta: str) -> str:
    found = re.search(r"^Version:\s*(\S+)\s*$", meta, re.MULTILINE)
    if not found:
        raise RuntimeError("initkit's metadata has no Version")
    return found.group(1)


def wheel_name(version: str) -> str:
    # PEP 427: a "-" in a component of the file name becomes "_".
    return f"{PROJECT}-{version.replace('-', '_')}-{TAG}.whl"


def build_wheel(out_dir: str | os.PathLike) -> Path:
    """Write initkit's wheel into `out_dir`; returns its path."""
    meta, entry_points = metadata()
    version = _version(meta)
    dist_info = f"{PROJECT}-{version.replace('-', '_')}.dist-info"
    wheel_meta = (f"Wheel-Version: 1.0\nGenerator: initkit.gradescope ({initkit.__version__})\n"
                  f"Root-Is-Purelib: true\nTag: {TAG}\n")
    entries: list[tuple[str, bytes, int]] = [
        (name, path.read_bytes(), 0o755 if os.access(path, os.X_OK) else 0o644)
        for name, path in package_files()]
    entries.append((f"{dist_info}/METADATA", meta.encode("utf-8"), 0o644))
    if entry_points:
        entries.append((f"{dist_info}/entry_points.txt", entry_points.encode("utf-8"), 0o644))
    entries.append((f"{dist_info}/WHEEL", wheel_meta.encode("utf-8"), 0o644))
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data, _ in entries)
    record += f"{dist_info}/RECORD,,\n"
    entries.append((f"{dist_info}/RECORD", record.encode("utf-8"), 0o644))

    out = Path(out_dir) / wheel_name(version)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as wheel:
        for name, data, mode in entries:
            write_entry(wheel, name, data, mode)
    return out


def write_entry(archive: zipfile.ZipFile, name: str, data: bytes, mode: int = 0o644) -> None:
    """One file in a zip archive, with a fixed timestamp and the given Unix permissions."""
    info = zipfile.ZipInfo(name, date_time=_EPOCH)
    info.external_attr = (0o100000 | mode) << 16        # a regular file with these permissions
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)
