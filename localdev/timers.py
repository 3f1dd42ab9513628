"""Timer triggers: NCRONTAB schedules (localdev/ncrontab.py), UTC, like the host's.

With use_monitor the schedule status is kept in AzureWebJobsStorage
(localdev/host_storage.py), so an occurrence missed while the host was down runs at
start-up with `past_due=True`. Failures are not retried, as in Azure: the next
occurrence runs anew.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import azure.functions as func

from localdev.discovery import TimerTriggerFunction
from localdev.host_storage import HostStorage
from localdev.invocation import invoke

log = logging.getLogger("payout.host")


class TimerTriggers:
    def __init__(self, functions: list[TimerTriggerFunction], host_storage: HostStorage) -> None:
        self.functions = functions
        self.host_storage = host_storage

    def start(self, now: datetime) -> dict[str, datetime]:
        """Run what start-up calls for (a missed occurrence, runOnStartup); return next dues."""
        next_due: dict[str, datetime] = {}
        for timer in self.functions:
            status = (
                self.host_storage.read_timer_status(timer.function_id)
                if timer.use_monitor
                else None
            ) or {}
            missed_at = _parse_time(status.get("Next"))
            if missed_at is not None and missed_at <= now:
                self.fire(timer, scheduled=missed_at, now=now, past_due=True)
            elif timer.run_on_startup:
                self.fire(timer, scheduled=now, now=now, past_due=False)
            else:
                self._save_status(
                    timer,
                    last=status.get("Last", ""),
                    next_due=timer.schedule.next_after(now),
                    now=now,
                )
            next_due[timer.name] = timer.schedule.next_after(now)
            log.info(
                "timer %s (%s): next run %s",
                timer.name,
                timer.schedule.expression,
                next_due[timer.name].isoformat(),
            )
        return next_due

    def fire(
        self, timer: TimerTriggerFunction, *, scheduled: datetime, now: datetime, past_due: bool
    ) -> None:
        next_due = timer.schedule.next_after(now)
        request = func.timer.TimerRequest(
            past_due=past_due,
            schedule_status={
                "Last": scheduled.isoformat(),
                "Next": next_due.isoformat(),
                "LastUpdated": now.isoformat(),
            },
            schedule={"AdjustForDST": True},
        )
        invoke(
            timer.name,
            timer.user_function,
            {timer.arg_name: request},
            reason=f"Timer fired at {now.isoformat()}" + (" (past due)" if past_due else ""),
        )
        self._save_status(timer, last=scheduled.isoformat(), next_due=next_due, now=now)

    def run_due(self, next_due: dict[str, datetime], now: datetime) -> None:
        for timer in self.functions:
            if next_due[timer.name] <= now:
                self.fire(timer, scheduled=next_due[timer.name], now=now, past_due=False)
                next_due[timer.name] = timer.schedule.next_after(now)

    def _save_status(
        self, timer: TimerTriggerFunction, *, last: str, next_due: datetime, now: datetime
    ) -> None:
        if timer.use_monitor:
            self.host_storage.write_timer_status(
                timer.function_id,
                {"Last": last, "Next": next_due.isoformat(), "LastUpdated": now.isoformat()},
            )


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
