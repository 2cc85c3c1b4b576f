"""docs/store.md documents every normalised Dopplergram keyword and every time-series keyword."""

from pathlib import Path

from globalhs.drms.builtin import GEOMETRY_KEYWORDS, TIMESERIES_KEYWORDS

DOC = Path(__file__).resolve().parents[1] / "docs" / "store.md"


def test_store_doc_lists_every_builtin_keyword():
    text = DOC.read_text()
    missing = [k.name for k in GEOMETRY_KEYWORDS + TIMESERIES_KEYWORDS if f"{k.name}" not in text]
    assert missing == []
    for kw in GEOMETRY_KEYWORDS:
        if kw.unit:
            row = next(line for line in text.splitlines()
                       if line.startswith("| ") and kw.name in [n.strip() for n in line.split("|")[1].split(",")])
            assert f"| {kw.unit} |" in row, (kw.name, row)
