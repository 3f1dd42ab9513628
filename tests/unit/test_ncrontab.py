"""The NCRONTAB reader the local host uses to fire timers like Azure does."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from localdev import ncrontab


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_hourly_default_schedule_fires_on_the_hour() -> None:
    schedule = ncrontab.parse("0 0 * * * *")
    assert schedule.next_after(at("2023-10-02 10:15:30")) == at("2023-10-02 11:00:00")
    assert schedule.next_after(at("2023-10-02 23:59:59")) == at("2023-10-03 00:00:00")


def test_next_is_strictly_after_an_exact_occurrence() -> None:
    schedule = ncrontab.parse("0 0 * * * *")
    assert schedule.next_after(at("2023-10-02 11:00:00")) == at("2023-10-02 12:00:00")


def test_fractions_of_a_second_do_not_repeat_an_occurrence() -> None:
    schedule = ncrontab.parse("* * * * * *")
    moment = datetime(2023, 10, 2, 11, 0, 0, 500_000, tzinfo=UTC)
    assert schedule.next_after(moment) == at("2023-10-02 11:00:01")


def test_steps_lists_and_ranges() -> None:
    schedule = ncrontab.parse("*/15 5,35 8-9 * * *")
    assert schedule.seconds == (0, 15, 30, 45)
    assert schedule.minutes == (5, 35)
    assert schedule.hours == (8, 9)
    assert schedule.occurrences_after(at("2023-10-02 09:35:40"), 3) == [
        at("2023-10-02 09:35:45"),
        at("2023-10-03 08:05:00"),
        at("2023-10-03 08:05:15"),
    ]


def test_range_with_step_and_start_with_step() -> None:
    assert ncrontab.parse("0 10-30/10 * * * *").minutes == (10, 20, 30)
    assert ncrontab.parse("0 50/5 * * * *").minutes == (50, 55)


def test_weekdays_by_number_and_name_with_sunday_as_zero_or_seven() -> None:
    weekdays_at_nine = ncrontab.parse("0 30 9 * * 1-5")
    # 2023-10-06 is a Friday: the next run is Monday 9 October.
    assert weekdays_at_nine.next_after(at("2023-10-06 10:00:00")) == at("2023-10-09 09:30:00")
    assert ncrontab.parse("0 0 0 * * Mon-Fri").weekdays == weekdays_at_nine.weekdays
    assert ncrontab.parse("0 0 0 * * 7").weekdays == ncrontab.parse("0 0 0 * * SUN").weekdays


def test_month_names_and_day_of_month() -> None:
    schedule = ncrontab.parse("0 0 6 1 jan,Jul *")
    assert schedule.next_after(at("2023-03-10 00:00:00")) == at("2023-07-01 06:00:00")
    assert schedule.next_after(at("2023-07-01 06:00:00")) == at("2024-01-01 06:00:00")


def test_leap_day_is_found_years_ahead() -> None:
    schedule = ncrontab.parse("0 0 0 29 2 *")
    assert schedule.next_after(at("2023-03-01 00:00:00")) == at("2024-02-29 00:00:00")


def test_day_of_month_and_weekday_must_both_match_like_ncrontab() -> None:
    friday_the_13th = ncrontab.parse("0 0 0 13 * 5")
    assert friday_the_13th.next_after(at("2023-01-01 00:00:00")) == at("2023-01-13 00:00:00")
    assert friday_the_13th.next_after(at("2023-01-14 00:00:00")) == at("2023-10-13 00:00:00")


def test_naive_times_are_read_as_utc() -> None:
    schedule = ncrontab.parse("0 0 * * * *")
    assert schedule.next_after(datetime(2023, 10, 2, 10, 15)) == at("2023-10-02 11:00:00")


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("0 * * * *", "needs 6 fields"),
        ("60 * * * * *", "outside 0-59"),
        ("0 0 24 * * *", "outside 0-23"),
        ("0 0 0 0 * *", "outside 1-31"),
        ("0 0 0 * 13 *", "outside 1-12"),
        ("0 0 0 * * 8", "outside 0-7"),
        ("*/0 * * * * *", "step"),
        ("0 30-10 * * * *", "backwards"),
        ("0 x * * * *", "not a number"),
        ("0 0 0 * foo *", "not a number or a name"),
    ],
)
def test_bad_expressions_say_what_is_wrong(expression: str, message: str) -> None:
    with pytest.raises(ncrontab.ScheduleError, match=message):
        ncrontab.parse(expression)


def test_a_schedule_that_never_fires_ends_with_an_error() -> None:
    with pytest.raises(ncrontab.ScheduleError, match="no occurrence"):
        ncrontab.parse("0 0 0 30 2 *").next_after(at("2023-01-01 00:00:00"))
