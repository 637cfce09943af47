"""CSV export of a report: the same numbers as its JSON, one table per row group.

Column `table` names the part of the report a row comes from: `summary` (the report's single
values), one row per nested object (`period`, `wait`...), and one row per item of each list
(`days`, `top_answered`...). Nested objects inside rows are flattened as `parent.child`.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from pydantic import BaseModel


def _flat(value: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(item, dict):
            out.update(_flat(item, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = item
    return out


def tables(report: BaseModel) -> list[dict[str, Any]]:
    """The report as rows, each with its `table`, in the order the CSV lists them."""
    data = report.model_dump(mode="json")
    summary = {k: v for k, v in data.items() if not isinstance(v, dict | list)}
    rows: list[dict[str, Any]] = [{"table": "summary", **summary}] if summary else []
    for key, value in data.items():
        if isinstance(value, dict):
            rows.append({"table": key, **_flat(value)})
        elif isinstance(value, list):
            rows.extend({"table": key, **_flat(item)} for item in value)
    return rows


def to_csv(report: BaseModel) -> str:
    rows = tables(report)
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buffer.getvalue()
