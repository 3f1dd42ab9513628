"""NCRONTAB schedules as the Azure Functions timer trigger reads them, for the local host.

Six fields, seconds first: `{second} {minute} {hour} {day} {month} {day-of-week}`.
Each field takes `*`, a value, a range `a-b`, a step `*/n`, `a-b/n` or `a/n`, and
comma-separated lists of those; months and days of the week also take English names
(`Jan`, `Mon`). Day of week 0 is Sunday (7 is accepted as Sunday too).

Like NCrontab, which the Functions host uses, a time matches only when every field
matches: a restricted day-of-month and a restricted day-of-week are both required, not
either (Vixie cron's OR rule does not apply). Times are UTC, as in Azure on Linux.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

# Longest gap searched for a next occurrence. A schedule such as "0 0 0 30 2 *" (30 Feb)
# never fires; the search must end with an error rather than loop.
SEARCH_HORIZON_DAYS = 5 * 366 + 1

MONTH_NAMES = {
    name: number
    for number, name in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
        start=1,
    )
}
WEEKDAY_NAMES = {
    name: number for number, name in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])
}


class ScheduleError(ValueError):
    """An NCRONTAB expression that cannot be read, or that never fires."""


@dataclass(frozen=True)
class _FieldSpec:
    name: str
    low: int
    high: int
    names: dict[str, int]


FIELD_SPECS = (
    _FieldSpec("second", 0, 59, {}),
    _FieldSpec("minute", 0, 59, {}),
    _FieldSpec("hour", 0, 23, {}),
    _FieldSpec("day", 1, 31, {}),
    _FieldSpec("month", 1, 12, MONTH_NAMES),
    _FieldSpec("day-of-week", 0, 7, WEEKDAY_NAMES),
)


@dataclass(frozen=True)
class CronSchedule:
    """A parsed schedule: the allowed values of each field, sorted."""

    expression: str
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday

    def matches_day(self, day: date) -> bool:
        sunday_first_weekday = (day.weekday() + 1) % 7
        return (
            day.month in self.months
            and day.day in self.days
            and sunday_first_weekday in self.weekdays
        )

    def next_after(self, moment: datetime) -> datetime:
        """The first occurrence strictly after `moment` (UTC; naive means UTC)."""
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        start = moment.astimezone(UTC).replace(microsecond=0) + timedelta(seconds=1)
        day = start.date()
        for _ in range(SEARCH_HORIZON_DAYS):
            if self.matches_day(day):
                found = self._first_time_on(day, start)
                if found is not None:
                    return found
            day += timedelta(days=1)
        raise ScheduleError(f"{self.expression!r} has no occurrence within 5 years")

    def occurrences_after(self, moment: datetime, count: int) -> list[datetime]:
        found: list[datetime] = []
        for _ in range(count):
            moment = self.next_after(moment)
            found.append(moment)
        return found

    def _first_time_on(self, day: date, not_before: datetime) -> datetime | None:
        # Only the first day searched can have times before `not_before`; later days
        # take their first allowed time at once.
        for hour in self.hours:
            for minute in self.minutes:
                for second in self.seconds:
                    candidate = datetime.combine(day, time(hour, minute, second), tzinfo=UTC)
                    if candidate >= not_before:
                        return candidate
        return None


def parse(expression: str) -> CronSchedule:
    """Read a six-field NCRONTAB expression; ScheduleError says what is wrong."""
    fields = expression.split()
    if len(fields) != len(FIELD_SPECS):
        raise ScheduleError(
            f"{expression!r}: NCRONTAB needs 6 fields (second minute hour day month "
            f"day-of-week), found {len(fields)}"
        )
    values = [
        _parse_field(text, spec, expression) for text, spec in zip(fields, FIELD_SPECS, strict=True)
    ]
    seconds, minutes, hours, days, months, weekdays = values
    return CronSchedule(
        expression=expression,
        seconds=tuple(sorted(seconds)),
        minutes=tuple(sorted(minutes)),
        hours=tuple(sorted(hours)),
        days=frozenset(days),
        months=frozenset(months),
        weekdays=frozenset(weekday % 7 for weekday in weekdays),
    )


def _parse_field(text: str, spec: _FieldSpec, expression: str) -> set[int]:
    allowed: set[int] = set()
    for part in text.split(","):
        allowed.update(_parse_part(part, spec, expression))
    return allowed


def _parse_part(part: str, spec: _FieldSpec, expression: str) -> range:
    def fail(reason: str) -> ScheduleError:
        return ScheduleError(f"{expression!r}: {spec.name} field {part!r}: {reason}")

    base, slash, step_text = part.partition("/")
    step = 1
    if slash:
        if not step_text.isdigit() or int(step_text) == 0:
            raise fail("the step after '/' must be a whole number above 0")
        step = int(step_text)
    if base == "*":
        low, high = spec.low, spec.high
    elif "-" in base:
        low_text, _, high_text = base.partition("-")
        low, high = _value(low_text, spec, fail), _value(high_text, spec, fail)
        if low > high:
            raise fail(f"range runs backwards ({low} > {high})")
    else:
        low = _value(base, spec, fail)
        # "a/n" means from a to the end of the field in steps of n, as in NCrontab.
        high = spec.high if slash else low
    return range(low, high + 1, step)


def _value(text: str, spec: _FieldSpec, fail) -> int:
    lowered = text.strip().lower()
    if lowered in spec.names:
        return spec.names[lowered]
    if not lowered.isdigit():
        raise fail(f"{text!r} is not a number" + (" or a name" if spec.names else ""))
    value = int(lowered)
    if not spec.low <= value <= spec.high:
        raise fail(f"{value} is outside {spec.low}-{spec.high}")
    return value
