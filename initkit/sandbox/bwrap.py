"""The command line that starts a sandbox's zygote: bubblewrap's namespaces and binds, or, without
bubblewrap, a plain process under an unprivileged uid. Builds the command only; host.py runs it."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from .limits import Limits

SANDBOX_DIR = "/sandbox"    # where the student-side code (inside/) is visible inside bubblewrap
INSIDE = Path(__file__).resolve().parent / "inside"     # what runs in the student's process


def zygote_command(isolation: str, limits: Limits, fd: int, scratch: str | None, *,
                   plots: bool = False) -> tuple[list[str], dict]:
    """(argv, environment) of the zygote, which gets its control socket as file descriptor `fd`.

    isolation  "bubblewrap", or "none" (then `scratch` is the student's writable folder)
    plots      the zygote imports matplotlib too (for cells that use it; see host.uses_plots)
    """
    lim = limits
    python = os.path.realpath(sys.executable)
    root = os.geteuid() == 0
    cfg = {"sys_path": _stdlib_paths() + _python_paths(),
           "memory_mb": lim.memory_mb, "cpu_seconds": lim.cpu_seconds,
           "max_processes": lim.max_processes, "max_file_bytes": lim.max_file_bytes,
           "max_output_bytes": lim.max_output_bytes,
           "max_message_bytes": lim.max_message_bytes, "plots": plots}
    env = {"HOME": "/tmp", "MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1",
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1",
           "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    if isolation == "none":
        env["HOME"] = scratch
        env["MPLCONFIGDIR"] = os.path.join(scratch, ".zygote", "mpl")
        # As root, student code runs as an unprivileged uid that keeps only the capability to
        # read files (the Python installation may sit in a folder only root can enter): it
        # cannot write the grader's files, signal its processes or exceed RLIMIT_NPROC.
        cfg.update(scratch=scratch, pidns=False, uid=sandbox_uid() if root else None,
                   keep_read_cap=root and not _world_readable(python, sys.base_prefix),
                   font_cache=_matplotlib_font_cache())
        return [python, "-I", "-S", str(INSIDE), str(fd), json.dumps(cfg)], env
    cfg.update(scratch="/tmp", pidns=True, uid=sandbox_uid() if root else None)
    env["MPLCONFIGDIR"] = "/tmp/.zygote/mpl"
    cmd = ["bwrap", "--die-with-parent", "--new-session", "--clearenv"]
    if root:
        # Without a user namespace the kernel still sees uid 0 (exempt from RLIMIT_NPROC),
        # so the child drops to an unprivileged uid instead: all namespaces but the user one.
        cmd += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
                "--unshare-cgroup-try"]
    else:
        cmd += ["--unshare-all"]
    for key, value in env.items():
        cmd += ["--setenv", key, value]
    cmd += ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            cmd += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            cmd += ["--ro-bind", top, top]
    cmd += ["--ro-bind", "/etc", "/etc"]
    # The scratch tmpfs first: a Python installed under /tmp (a venv in a fresh checkout
    # there) is bound on top of it below, and the zygote's wipe leaves those folders alone.
    cmd += ["--perms", "1777", "--size", str(lim.max_file_bytes), "--tmpfs", "/tmp"]
    binds = [sys.base_prefix, sys.prefix, *(p for p in cfg["sys_path"])]
    cfg["keep"] = sorted({os.path.join("/tmp", Path(p).relative_to("/tmp").parts[0])
                          for p in map(os.path.realpath, binds)
                          if p.startswith("/tmp/") and Path(p).relative_to("/tmp").parts})
    made: set[str] = set()
    for path in _outermost(os.path.realpath(p) for p in binds):
        if path.startswith(("/usr/", "/etc/")) or path == "/usr":
            continue
        # bwrap would create the parents 0700: readable by our uid only.
        for parent in reversed(Path(path).parents[:-1]):
            if str(parent) not in made:
                made.add(str(parent))
                cmd += ["--perms", "0755", "--dir", str(parent)]
        cmd += ["--ro-bind", path, path]
    cmd += ["--proc", "/proc", "--dev", "/dev",
            "--perms", "0755", "--dir", SANDBOX_DIR, "--ro-bind", str(INSIDE), f"{SANDBOX_DIR}/inside"]
    cache = _matplotlib_font_cache()
    if cache:
        cmd += ["--ro-bind", cache, f"{SANDBOX_DIR}/mpl/{os.path.basename(cache)}"]
        cfg["font_cache"] = f"{SANDBOX_DIR}/mpl/{os.path.basename(cache)}"
    cmd += ["--remount-ro", "/", "--chdir", "/tmp",
            python, "-I", "-S", f"{SANDBOX_DIR}/inside", str(fd), json.dumps(cfg)]
    return cmd, {}


def sandbox_uid() -> int:
    """An unprivileged uid for student code when the grader runs as root, one per host so that
    RLIMIT_NPROC counts only this host's student processes."""
    return 200000 + os.getpid() % 100000


def _python_paths() -> list[str]:
    """Directories the student's Python needs on sys.path besides the standard library."""
    import sysconfig

    paths = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    for mod in ("numpy", "matplotlib"):
        try:
            spec = __import__("importlib.util").util.find_spec(mod)
        except (ImportError, ValueError):
            spec = None
        if spec and spec.origin:
            paths.append(str(Path(spec.origin).parent.parent))
    return list(dict.fromkeys(os.path.realpath(p) for p in paths if os.path.isdir(p)))


def _stdlib_paths() -> list[str]:
    return [p for p in sys.path if p and os.path.isdir(p) and "site-packages" not in p
            and os.path.realpath(p).startswith(os.path.realpath(sys.base_prefix))]

def _outermost(paths) -> list[str]:
    out: list[str] = []
    for p in sorted(set(paths)):
        if not any(p == q or p.startswith(q.rstrip("/") + "/") for q in out):
            out.append(p)
    return out


def _world_readable(*paths: str) -> bool:
    for path in paths:
        p = Path(os.path.realpath(path))
        for d in [p, *p.parents]:
            try:
                if not os.stat(d).st_mode & 0o005:
                    return False
            except OSError:
                return False
    return True


def _matplotlib_font_cache() -> str | None:
    """The grader's matplotlib font list, copied into the sandbox so the zygote does not
    rebuild it (seconds) at every start. Found where matplotlib.get_cachedir() looks
    ($MPLCONFIGDIR, else $XDG_CACHE_HOME or ~/.cache, then matplotlib/) without importing
    matplotlib, an import every grading worker would pay for in time and memory."""
    import importlib.util

    try:
        if importlib.util.find_spec("matplotlib") is None:
            return None
        folder = os.environ.get("MPLCONFIGDIR")
        if not folder:
            folder = os.path.join(os.environ.get("XDG_CACHE_HOME") or
                                  os.path.join(os.path.expanduser("~"), ".cache"), "matplotlib")
        found = sorted(Path(folder).glob("fontlist-*.json"))
    except (ImportError, ValueError, OSError):  # matplotlib missing or unusable: just slower
        return None
    return str(found[-1]) if found else None
