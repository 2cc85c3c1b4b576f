"""The JSOC mode-table text format."""

import numpy as np
import pytest

from globalhs.science.modetable import (ModeTable, ModeTableError, format_modetable, ncolumns, parse_modetable,
                                        read_modetable, write_modetable)


@pytest.mark.refdata
@pytest.mark.parametrize("name", ["hmi.6400.36", "hmi.6328.36.72d"])
def test_read_write_is_byte_identical(refdata, name, tmp_path):
    path = refdata("hmi_modes", name)
    table = read_modetable(path)
    assert table.nacoeff == 36 and ncolumns(36) == 84
    write_modetable(tmp_path / "out", table)
    assert (tmp_path / "out").read_text() == path.read_text()


@pytest.mark.refdata
def test_columns_meaning(refdata):
    t = read_modetable(refdata("hmi_modes", "hmi.6400.36"))
    i = t.find(18, 32)
    assert (t.l[i], t.n[i]) == (32, 18)
    assert t.nu[i] == pytest.approx(3912.2278)
    assert t.width[i] == pytest.approx(7.1673)
    assert t.err[i, 0] == pytest.approx(0.0643)
    assert t.a[i, 0] == pytest.approx(437.3436)
    assert t.a_err[i, 0] == pytest.approx(3.16843)
    assert t.a_err[i, 35] == pytest.approx(0.000345448)


@pytest.mark.parametrize("nac", [6, 18, 36])
def test_smaller_n_round_trip(nac):
    rng = np.random.default_rng(nac)
    rows = 4
    t = ModeTable(np.arange(rows) + 10, np.arange(rows), 3000 + rng.random(rows), rng.random(rows),
                  rng.random(rows), rng.random(rows), rng.random(rows) - 0.5, rng.random((rows, 5)),
                  rng.normal(size=(rows, nac)) * 100, rng.random((rows, nac)))
    text = format_modetable(t)
    assert all(len(line.split()) == 12 + 2 * nac for line in text.splitlines())
    back = parse_modetable(text)
    assert back.nacoeff == nac
    assert np.allclose(back.to_array(), t.to_array(), rtol=1e-5, atol=1e-4)
    assert np.array_equal(ModeTable.from_array(t.to_array()).to_array(), t.to_array())


def test_bad_tables_are_named():
    with pytest.raises(ModeTableError, match="line 1: 13 columns"):
        parse_modetable(" ".join(["1"] * 13))
    with pytest.raises(ModeTableError, match="line 2: 23 columns, expected 24"):
        parse_modetable(" ".join(["1"] * 24) + "\n" + " ".join(["1"] * 23))
    with pytest.raises(ModeTableError, match="not a number"):
        parse_modetable(" ".join(["x"] * 24))
    with pytest.raises(ModeTableError, match="no modes"):
        parse_modetable("# nothing\n")


def test_write_is_atomic_on_failure(tmp_path, monkeypatch):
    import globalhs.science.modetable as mt

    path = tmp_path / "t"
    path.write_text("old\n")

    def broken(table):
        raise RuntimeError("disk full")

    monkeypatch.setattr(mt, "format_modetable", broken)
    with pytest.raises(RuntimeError):
        write_modetable(path, ModeTable.empty(6))
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["t"]
