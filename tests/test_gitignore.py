"""A clone stays clean after the README's first command: what `live-nst run` writes in the
repository root (the sample video, snapshots, the fallback file, a partial file kept after a
kill) is ignored by git, and nothing of the project's own is."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from live_nst.outputs import PartialFile
from live_nst.sinks import FALLBACK_FILE

ROOT = Path(__file__).resolve().parents[1]


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def repository() -> Path:
    if shutil.which("git") is None or _git("rev-parse", "--show-toplevel").returncode != 0:
        pytest.skip("needs a git checkout of live-nst (and git)")
    return ROOT


def _first_readme_output() -> str:
    """The file the README's first command writes (`--output file:NAME`)."""
    block = re.search(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S)
    assert block is not None, "the README has no bash block"
    found = re.search(r"--output file:(\S+)", block[1])
    assert found is not None, f"the README's first command writes no file: {block[1]}"
    return found[1]


def test_what_run_writes_in_the_repository_root_is_ignored(repository, tmp_path):
    partial = PartialFile(tmp_path / _first_readme_output())  # a real partial name, made where it does no harm
    stamp = time.strftime("live-nst-%Y%m%d-%H%M%S")  # app.LiveLoop.snapshot's names
    written = [_first_readme_output(), FALLBACK_FILE, f"{stamp}.png", f"{stamp}-2.png", partial.path.name]
    partial.discard()
    checked = _git("check-ignore", "--", *written)
    assert checked.returncode == 0 and checked.stdout.split() == written, checked.stdout + checked.stderr


def test_the_projects_own_files_are_not_ignored(repository):
    tracked = ["README.md", "docs/sample_frame.jpg", "live_nst/styles/pack.onnx", "tests/test_gitignore.py"]
    checked = _git("check-ignore", "--no-index", "--", *tracked)
    assert checked.returncode == 1 and checked.stdout == "", checked.stdout
