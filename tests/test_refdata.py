"""The reference-data directory: GLOBALHS_REFDATA, else ../shared/data beside the project."""

from __future__ import annotations

from pathlib import Path

import pytest

from globalhs.modules.base import ModuleError
from globalhs.modules.invert import _model_path
from globalhs.refdata import refdata_dir


def test_environment_wins_else_beside_the_project(monkeypatch, tmp_path):
    monkeypatch.setenv("GLOBALHS_REFDATA", str(tmp_path))
    assert refdata_dir() == tmp_path
    monkeypatch.delenv("GLOBALHS_REFDATA")
    assert refdata_dir() == Path(__file__).resolve().parents[1].parent / "shared" / "data"


def test_invert_default_model_comes_from_refdata_or_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.delenv("GLOBALHS_MODEL", raising=False)
    monkeypatch.setenv("GLOBALHS_REFDATA", str(tmp_path))
    with pytest.raises(ModuleError, match=r"default model .*fgong.l5bi.d.15c does not exist"):
        _model_path("")
    model = tmp_path / "model_s" / "fgong.l5bi.d.15c"
    model.parent.mkdir()
    model.write_text("")
    assert _model_path("") == model
    assert _model_path("/elsewhere/model.fgong") == Path("/elsewhere/model.fgong")
