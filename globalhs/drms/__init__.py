"""The record store: JSOC DRMS's embedded default in Python.

``open_store()`` gives a ``Store`` (catalog + segment files); ``store.query("mdi.vw_V[6400d/72d]")``
returns ``Record`` objects; ``store.writer()`` adds records atomically (or stages them when
GLOBALHS_STAGE is set); ``store.commit_stage(dir)`` commits a verified job's stage. Series are
described by ``SeriesDef`` (``PrimeKey``, ``Keyword``, ``Segment``); ``globalhs.drms.builtin`` has the
input series and ``timeseries_series``. See docs/store.md.
"""

from globalhs.drms.errors import DrmsError
from globalhs.drms.series import Keyword, PrimeKey, Segment, SeriesDef, load_series_file
from globalhs.drms.store import Record, Store, Writer, default_store_path, open_store

__all__ = ["DrmsError", "Keyword", "PrimeKey", "Segment", "SeriesDef", "load_series_file", "Record", "Store",
           "Writer", "default_store_path", "open_store"]
