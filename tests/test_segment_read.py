"""The direct FITS reader of plain segments gives exactly what astropy gives."""

import numpy as np
import pytest
from astropy.io import fits

from globalhs.drms.segments import _read_plain_image, read_segment, write_segment
from globalhs.drms.series import Segment


@pytest.mark.parametrize("dtype", ["int16", "int32", "float32", "float64"])
def test_plain_reader_matches_astropy(tmp_path, dtype):
    rng = np.random.default_rng(5)
    image = np.round(rng.normal(scale=500.0, size=(37, 53)))
    image[3, 4] = np.nan  # a missing pixel: BLANK for integers, NaN for floats
    seg = Segment("V", dtype)
    path = tmp_path / "V.fits"
    write_segment(path, seg, image, cards=[("T_REC", "2010.01.01_00:00:00_TAI"), ("COMMENT", "x / y = z")])
    raw = _read_plain_image(path)
    with fits.open(path, do_not_scale_image_data=True) as hdus:
        expected = hdus[0].data
    assert raw.dtype == expected.dtype and raw.shape == expected.shape
    np.testing.assert_array_equal(raw, expected)
    back = read_segment(path, seg)
    assert np.isnan(back[3, 4]) and back.dtype.isnative
    np.testing.assert_array_equal(np.delete(back.ravel(), 3 * 53 + 4), np.delete(image.ravel(), 3 * 53 + 4))


def test_plain_reader_declines_other_layouts(tmp_path):
    path = tmp_path / "c.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(np.zeros((8, 8), np.float32))]).writeto(path)
    assert _read_plain_image(path) is None  # no primary image: astropy reads it
    (tmp_path / "t.fits").write_bytes(b"SIMPLE  =                    T" + b" " * 50)  # truncated, no END
    assert _read_plain_image(tmp_path / "t.fits") is None
