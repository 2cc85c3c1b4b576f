"""The direct writer of plain float segments: byte for byte astropy's file, read back exactly."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from globalhs.drms.segments import _plain_fits, read_segment, write_segment
from globalhs.drms.series import Segment


def _astropy_bytes(tmp_path, data, cards):
    header = fits.Header()
    for name, value in cards:
        header[name] = value
    path = tmp_path / "astropy.fits"
    fits.HDUList([fits.PrimaryHDU(data, header=header, do_not_scale_image_data=True)]).writeto(path)
    return path.read_bytes()


CARDS = [
    ("T_REC", "2010.07.11_00:00:00_TAI"), ("B0", 1e-5), ("P", -21.123456789012345), ("Q", 3),
    ("BIG", 1.2345678901234567e-300), ("HUGE", -9.87654321e250), ("F", True), ("G", False),
    ("ZERO", 0.0), ("NEG", -0.0), ("ROUND", 1e16), ("INSTRUME", "SYNTH-MDI"), ("QUOTE", "it's"),
    ("LONG", "x" * 68), ("BIGINT", -(2**62)), ("NPF", np.float32(0.1)), ("NPI", np.int64(7)),
    ("EMPTY", ""), ("WITH-DASH", None) if False else ("W-DASH", 2.5e-7),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, ">f4"])
def test_plain_float_file_is_byte_identical_to_astropy(tmp_path, dtype):
    rng = np.random.default_rng(1)
    data = rng.standard_normal((5, 7)).astype(dtype)
    data[2, 3] = np.nan
    floats = [(f"R{i}", float(v)) for i, v in enumerate(rng.standard_normal(30) * 10.0 ** rng.integers(-300, 300, 30))]
    cards = CARDS + floats
    native = np.ascontiguousarray(data, dtype=np.dtype(dtype).newbyteorder("="))
    assert _plain_fits(native, cards) == _astropy_bytes(tmp_path, native, cards)


def test_write_segment_round_trip_and_fallbacks(tmp_path):
    seg = Segment("V", "float32", unit="m/s")
    image = np.arange(12, dtype=float).reshape(3, 4)
    image[0, 1] = np.nan
    path = tmp_path / "V.fits"
    write_segment(path, seg, image, CARDS)
    with fits.open(path) as hdus:
        assert hdus[0].header["BUNIT"] == "m/s" and hdus[0].header["QUOTE"] == "it's"
        assert hdus[0].header["P"] == -21.123456789012345
    back = read_segment(path, seg)
    np.testing.assert_array_equal(back, image.astype(np.float32))
    # Cards the direct writer does not take (lower case, duplicates, reserved) go through astropy.
    for cards in ([("lower", 1)], [("A", 1), ("A", 2)], [("NAXIS1", 4)], [("A", 1 + 2j)]):
        assert _plain_fits(image.astype(np.float32), cards) is None
    write_segment(path, seg, image, [("lower", 1.5)])
    with fits.open(path) as hdus:
        assert hdus[0].header["LOWER"] == 1.5
