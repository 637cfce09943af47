"""Business calendar: opening hours, holidays and exceptions, in the configured zone."""

from sportello.calendar.hours import (
    ALWAYS,
    DEFAULT_OPENING_HOURS,
    NEVER,
    BusinessCalendar,
    CalendarException,
    DayHours,
    TimeRange,
    WeeklyHours,
    parse_day_hours,
    parse_exceptions,
    parse_opening_hours,
)

__all__ = [
    "ALWAYS",
    "DEFAULT_OPENING_HOURS",
    "NEVER",
    "BusinessCalendar",
    "CalendarException",
    "DayHours",
    "TimeRange",
    "WeeklyHours",
    "parse_day_hours",
    "parse_exceptions",
    "parse_opening_hours",
]
