"""`globalhs kernels`: computes a kernel set once, then reuses the cache; clear errors."""

import numpy as np
import pytest
from click.testing import CliRunner

from globalhs.cli import main


def test_kernels_bad_model_file(tmp_path):
    bad = tmp_path / "model.fgong"
    bad.write_text("not an fgong file\n")
    result = CliRunner().invoke(main, ["kernels", "--model", str(bad)])
    assert result.exit_code == 1
    assert str(bad) in result.output and "FGONG" in result.output
    result = CliRunner().invoke(main, ["kernels", "--model", str(tmp_path / "absent.fgong")])
    assert result.exit_code == 1 and "cannot read model file" in result.output


def test_kernels_config_errors(tmp_path, refdata):
    cfg = tmp_path / "k.toml"
    cfg.write_text("[default]\nlmax = 5\nwhatever = 1\n")
    model = refdata("model_s", "fgong.l5bi.d.15c")
    result = CliRunner().invoke(main, ["kernels", "--model", str(model), "--config", str(cfg)])
    assert result.exit_code == 1 and "unknown keys" in result.output
    result = CliRunner().invoke(main, ["kernels", "--model", str(model), "--config", str(cfg), "--name", "other"])
    assert result.exit_code == 1 and "no [other] table" in result.output


@pytest.mark.refdata
def test_kernels_computes_then_reuses_cache(tmp_path, monkeypatch, refdata):
    monkeypatch.setenv("GLOBALHS_CACHE", str(tmp_path / "cache"))
    cfg = tmp_path / "k.toml"
    cfg.write_text("[small]\nlmin = 20\nlmax = 21\nnumin = 3000.0\nnumax = 3250.0\n")
    model = refdata("model_s", "fgong.l5bi.d.15c")
    args = ["kernels", "--model", str(model), "--config", str(cfg), "--name", "small"]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert "modes, l 20-21" in first.output
    (path,) = (tmp_path / "cache" / "kernels").glob("kernels-*.npz")
    stamp = path.stat().st_mtime_ns
    second = CliRunner().invoke(main, args)
    assert second.exit_code == 0 and path.stat().st_mtime_ns == stamp  # served from the cache
    with np.load(path) as z:
        assert set(z["l"]) == {20, 21} and z["A"].shape == (len(z["l"]), len(z["x"]))
        # (15, 20) is in the window: 3085.0 uHz (ADIPLS 3084.935)
        k = np.nonzero((z["l"] == 20) & (z["n"] == 15))[0][0]
        assert z["nu"][k] == pytest.approx(3084.935, abs=0.1)
