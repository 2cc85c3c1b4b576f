"""Times and durations against astropy and the values the original's tools print."""

from __future__ import annotations

import math

import pytest
from astropy.time import Time
from click.testing import CliRunner

from globalhs.cli import main
from globalhs.time import (
    MDI_EPOCH,
    Slot,
    TimeFormatError,
    day_to_time,
    format_time,
    parse_duration,
    parse_time,
    parse_time_or_day,
    time_to_day,
)


@pytest.mark.parametrize(
    "text, seconds",
    [("72d", 6220800), ("6h", 21600), ("45s", 45), ("48h", 172800), ("1.5d", 129600), ("2w", 1209600),
     ("30m", 1800), ("72day", 6220800), ("6hours", 21600), ("10min", 600), ("1week", 604800), ("90", 90)],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "d", "72x", "1.2.3d", "abc", "6 h h"])
def test_bad_durations_name_the_expected_form(bad):
    with pytest.raises(TimeFormatError, match="expected"):
        parse_duration(bad)


def test_epochs_match_astropy():
    t0 = Time("1977-01-01T00:00:00", scale="tai")
    mdi = Time("1993-01-01T00:00:00", scale="tai")
    assert MDI_EPOCH == pytest.approx((mdi - t0).sec, abs=1e-6)
    assert parse_time("1993.01.01_00:00:00_TAI") == pytest.approx(MDI_EPOCH, abs=1e-6)


def test_day_numbers():
    assert format_time(day_to_time(6400)) == "2010.07.11_00:00:00_TAI"
    assert format_time(day_to_time(6328)) == "2010.04.30_00:00:00_TAI"
    assert time_to_day(parse_time("2010.07.11_00:00:00_TAI")) == 6400
    assert parse_time_or_day("6400d") == day_to_time(6400)
    assert parse_time_or_day("2010.07.11_00:00:00_TAI") == day_to_time(6400)


def test_utc_and_tai_differ_by_the_leap_seconds_astropy_knows():
    tai = parse_time("2010.07.11_00:00:00_TAI")
    utc = parse_time("2010.07.11_00:00:00_UTC")
    assert utc - tai == pytest.approx(34.0, abs=1e-6)  # TAI-UTC = 34 s in 2010
    ref = Time("2010-07-11T00:00:00", scale="utc")
    assert utc == pytest.approx((ref.tai - Time("1977-01-01", scale="tai")).sec, abs=1e-6)
    assert format_time(utc, "UTC") == "2010.07.11_00:00:00_UTC"
    # A leap second prints as :60 in UTC.
    leap = parse_time("2016.12.31_23:59:59_UTC") + 1
    assert format_time(leap, "UTC") == "2016.12.31_23:59:60_UTC"


def test_whole_seconds_are_exact():
    assert parse_time("2010.07.11_00:02:00_TAI") == day_to_time(6400) + 120
    assert parse_time("2010.07.11_00:00:01_UTC") - parse_time("2010.07.11_00:00:00_UTC") == 1.0
    assert (parse_time("2002.03.31_17:34:00_TAI") - MDI_EPOCH) % 60 == 0


def test_short_forms_and_default_zone():
    assert parse_time("2014.02.05_08:00", default_zone="TAI") == parse_time("2014.02.05_08:00:00_TAI")
    assert parse_time("2014.02.05_08:00") == parse_time("2014.02.05_08:00:00_UTC")
    assert parse_time("2010.07.11") == parse_time("2010.07.11_00:00:00_UTC")
    assert parse_time("2010-07-11T00:00:00_TAI") == day_to_time(6400)
    assert format_time(day_to_time(6400) + 0.25, digits=2) == "2010.07.11_00:00:00.25_TAI"


@pytest.mark.parametrize("bad", ["2010.13.01_00:00:00_TAI", "2010.07.11_00:00:00_XYZ", "yesterday", "6400x"])
def test_bad_times(bad):
    with pytest.raises(TimeFormatError, match="invalid time"):
        parse_time_or_day(bad)


def test_slots():
    day = Slot()
    assert day.index(parse_time("2010.04.30_00:00:00_TAI")) == 6328
    assert day.index(day_to_time(6400) + 86399) == 6400
    assert day.time(6328) == day_to_time(6328)
    rounded = Slot(step=86400, round=60)
    assert rounded.index(day_to_time(6400) - 29) == 6400  # within half a cadence rounds up
    assert rounded.index(day_to_time(6400) - 31) == 6399
    hourly = Slot(step=3600)
    assert hourly.index(day_to_time(1)) == 24
    assert day.is_boundary(day_to_time(6400)) and not day.is_boundary(day_to_time(6400) + 60)
    assert math.isclose(Slot(step=60).time(10), MDI_EPOCH + 600)


def test_cli_durcon_and_time():
    runner = CliRunner()
    result = runner.invoke(main, ["durcon", "72d", "6h", "45s"])
    assert result.exit_code == 0 and result.output == "6220800\n21600\n45\n"
    assert runner.invoke(main, ["time", "6400d"]).output == "2010.07.11_00:00:00_TAI\n"
    assert runner.invoke(main, ["time", "2010.07.11_00:00:00_TAI", "--day"]).output == "6400\n"
    bad = runner.invoke(main, ["durcon", "72x"])
    assert bad.exit_code == 2 and "expected" in bad.output
    bad = runner.invoke(main, ["time", "notatime"])
    assert bad.exit_code == 2 and "expected a day number" in bad.output
