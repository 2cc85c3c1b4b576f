"""Atomic writes: all or nothing, no temporary files left, permissions as the umask says."""

from __future__ import annotations

import os
import stat

import pytest

from globalhs.atomic import atomic_open, atomic_write


def test_write_replaces_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "sub" / "table.txt"
    atomic_write(path, "one\n")
    atomic_write(path, b"two\n")
    assert path.read_bytes() == b"two\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["table.txt"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    atomic_write(path, "#!/bin/sh\n", chmod=0o755, durable=False)
    assert stat.S_IMODE(path.stat().st_mode) == 0o755


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "table.txt"
    atomic_write(path, "old\n")
    with pytest.raises(RuntimeError):
        with atomic_open(path) as fh:
            fh.write("half of the new")
            raise RuntimeError("killed mid-write")
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["table.txt"]
    with pytest.raises(ValueError, match="expected 'w' or 'wb'"):
        with atomic_open(path, "a"):
            pass
