"""A git ref's files: resolving the ref, extracting its files, importing a model from them.

Files are extracted with ``git archive`` into a directory the caller owns: the user's working tree,
index and worktree list are never touched. This module imports neither torch nor any CLI library.
"""
from __future__ import annotations

import contextlib
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any, Iterator

from green_estimate.errors import BaselineError


def resolve_ref(top: Path, ref: str | None) -> tuple[str, str]:
    """``(commit, label)`` of ``ref``, or of the merge base of HEAD with the default branch.

    Raises:
        BaselineError: an unknown ref, no default branch, no common ancestor.
    """
    if ref is not None:
        commit = _git(top, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
        if not commit:
            raise BaselineError(f"--baseline {ref!r} is not a commit, branch or tag of {top} "
                                "(in CI, fetch it first: actions/checkout with fetch-depth: 0)")
        return commit, f"{ref} ({commit[:7]})"
    branch = default_branch(top)
    commit = _git(top, "merge-base", "HEAD", branch, check=False)
    if not commit:
        raise BaselineError(f"HEAD and {branch} have no common commit in {top}: pass --baseline REF")
    return commit, f"{branch} (merge base {commit[:7]})"


def default_branch(top: Path) -> str:
    """origin/HEAD's branch, else the first of origin/main, origin/master, main, master that exists."""
    head = _git(top, "symbolic-ref", "--quiet", "refs/remotes/origin/HEAD", check=False)
    if head.startswith("refs/remotes/"):
        return head[len("refs/remotes/"):]
    for name in ("origin/main", "origin/master", "main", "master"):
        if _git(top, "rev-parse", "--verify", "--quiet", f"{name}^{{commit}}", check=False):
            return name
    raise BaselineError(f"no default branch in {top} (no origin/HEAD, main or master): pass --baseline REF")


def toplevel(folder: Path) -> Path:
    top = _git(folder, "rev-parse", "--show-toplevel", check=False)
    if not top:
        raise BaselineError(f"{folder} is not in a git repository: a relative budget needs --baseline-json FILE "
                            "(saved by `green-estimate predict MODEL --json`) instead of a git ref")
    return Path(top).resolve()


def exists_at(top: Path, commit: str, rel: Path) -> bool:
    return _run_git(top, "cat-file", "-e", f"{commit}:{rel.as_posix()}").returncode == 0


def extract(top: Path, commit: str, subtree: Path, dest: Path) -> None:
    """The files of ``subtree`` at ``commit`` into ``dest`` (``git archive``: no index, no worktree)."""
    archive = dest / ".green-estimate-base.tar"
    with open(archive, "wb") as f:
        done = subprocess.run(["git", "-C", str(top), "archive", "--format=tar", commit, "--", subtree.as_posix()],
                              stdout=f, stderr=subprocess.PIPE, text=False, check=False)
    if done.returncode != 0:
        raise BaselineError(f"git archive of {commit[:7]} failed: {done.stderr.decode(errors='replace').strip()}")
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
        else:  # pragma: no cover - Python without extraction filters; git's own archive is trusted
            tar.extractall(dest)
    archive.unlink()


@contextlib.contextmanager
def imports_from(root: Path, *, hide: Path, extra_path: Path | None) -> Iterator[None]:
    """Import the base's files, not the head's.

    Modules loaded from ``hide`` (where the head's model imports its siblings from) are set aside
    while the base is priced, and what was imported from ``root`` is forgotten after. green-estimate
    itself is never set aside, even when the model lives in its repository: a second copy of it
    would have error classes that the first does not catch.
    """
    hidden = {name: mod for name, mod in list(sys.modules.items())
              if _under(mod, hide) and name.partition(".")[0] != "green_estimate"}
    for name in hidden:
        del sys.modules[name]
    if extra_path is not None:
        sys.path.insert(0, str(extra_path))
    try:
        yield
    finally:
        if extra_path is not None:
            with contextlib.suppress(ValueError):
                sys.path.remove(str(extra_path))
        for name, mod in list(sys.modules.items()):
            if _under(mod, root):
                del sys.modules[name]
        sys.modules.update(hidden)


def _under(module: Any, folder: Path) -> bool:
    path = getattr(module, "__file__", None)
    if not path:
        return False
    try:
        return Path(path).resolve().is_relative_to(folder.resolve())
    except (OSError, ValueError):
        return False


def _run_git(top: Path, *args: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", "-C", str(top), *args], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise BaselineError("git is not installed: a relative budget needs git, or --baseline-json FILE") from None


def _git(top: Path, *args: str, check: bool = True) -> str:
    done = _run_git(top, *args)
    if done.returncode != 0:
        if check:
            raise BaselineError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
        return ""
    return done.stdout.strip()
