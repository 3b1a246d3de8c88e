"""The expiry timeline's geometry: pure arithmetic from (certificate, expiry, planned renewal) rows to SVG marks.

No Django: the selector fetches at most STACK rows per day (a window query) plus each day's total, and this
module places them. Days run left to right from today; a day's marks stack upwards; a day with more
certificates than STACK shows "+N" above its column, so 10,000 certificates cost at most DAYS * STACK marks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import NamedTuple

DAYS = 120
STACK = 4
WIDTH = 960
LEFT = 8
RIGHT = 8
DAY_WIDTH = (WIDTH - LEFT - RIGHT) / DAYS
MARK = 6
ROW = 9
TOP = 16  # room for the "+N" labels
PLOT_HEIGHT = STACK * ROW
AXIS_Y = TOP + PLOT_HEIGHT + 4
HEIGHT = AXIS_Y + 18
TICK_EVERY = 10


# Row and Mark are named tuples, not dataclasses: 500 of each a page, and a tuple is built in a fraction of a frozen
# dataclass's time (a query's rows become Rows as they are).
class Row(NamedTuple):
    """One certificate as the selector reads it, with its day's total."""

    certificate_id: int
    name: str
    not_after: datetime
    renew_at: datetime | None
    day_total: int


class Mark(NamedTuple):
    certificate_id: int
    title: str
    x: float  # the square's corner
    y: float
    cx: float  # its centre, where the renewal line ends
    cy: float
    soon: bool  # inside the "expiring" window
    renew_x: float | None  # where its planned renewal is, when that falls inside the window before expiry


@dataclass(frozen=True)
class More:
    x: float
    count: int


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class Timeline:
    marks: list[Mark]
    more: list[More]
    ticks: list[Tick]
    shown: int
    total: int
    soon_x: float  # the boundary of the "expiring" window
    width: int = WIDTH
    height: int = HEIGHT
    axis_y: int = AXIS_Y

    @property
    def hidden(self) -> int:
        return self.total - self.shown


def day_x(offset: float) -> float:
    return round(LEFT + (offset + 0.5) * DAY_WIDTH, 1)


def timeline_layout(rows: Iterable[Row], *, today: date, expiring_days: int) -> Timeline:
    """Place each row at its expiry day, stacked; ``rows`` come ordered by expiry and at most STACK per day."""
    marks: list[Mark] = []
    more: list[More] = []
    per_day: dict[int, int] = {}
    totals: dict[int, int] = {}
    for row in rows:
        day = row.not_after.date()
        offset = (day - today).days
        if not 0 <= offset < DAYS:
            continue
        level = per_day.get(offset, 0)
        if level >= STACK:
            continue
        per_day[offset] = level + 1
        totals[offset] = row.day_total
        renew_x = None
        title = f"{row.name} — expires {day.isoformat()}"
        if row.renew_at is not None:
            renew_day = row.renew_at.date()
            title += f", renewal planned {renew_day.isoformat()}"
            if row.renew_at < row.not_after:
                renew_offset = (renew_day - today).days
                renew_x = day_x(max(renew_offset, 0)) if renew_offset < offset else None
        cx = day_x(offset)
        cy = TOP + PLOT_HEIGHT - level * ROW - ROW / 2
        marks.append(
            Mark(
                row.certificate_id,
                title,
                round(cx - MARK / 2, 1),
                round(cy - MARK / 2, 1),
                cx,
                cy,
                offset < expiring_days,
                renew_x,
            )
        )
    for offset, total in sorted(totals.items()):
        if total > per_day[offset]:
            more.append(More(x=day_x(offset), count=total - per_day[offset]))
    ticks = [
        Tick(x=day_x(offset), label="today" if offset == 0 else f"+{offset} d") for offset in range(0, DAYS, TICK_EVERY)
    ]
    return Timeline(
        marks=marks,
        more=more,
        ticks=ticks,
        shown=len(marks),
        total=sum(totals.values()),
        soon_x=day_x(min(expiring_days, DAYS) - 0.5),
    )
