"""Real throw-away git repositories for the relative-budget tests (check --max-increase, baseline.py)."""
from __future__ import annotations

import subprocess
from pathlib import Path

# A model file whose cost grows with {width}: the base and head sides of a relative check.
MODEL = """import torch.nn as nn
INPUT_SHAPE = (256,)
def build_model():
    return nn.Sequential(nn.Linear(256, {width}), nn.ReLU(), nn.Linear({width}, 10))
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def make_repo(path: Path) -> Path:
    """An empty repository on branch ``main`` with a committer set."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "test@example.com")
    git(path, "config", "user.name", "test")
    return path


def commit(repo: Path, files: dict[str, str], message: str) -> str:
    """Write ``files`` (name → text), commit them, return the new commit's hash."""
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "add", *files)
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()
