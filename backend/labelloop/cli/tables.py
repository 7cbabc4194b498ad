"""Plain-text tables for the command-line summaries."""

from __future__ import annotations

from collections.abc import Sequence


def num(value: float | None, digits: int = 3) -> str:
    """A number with ``digits`` decimals, ``-`` for an undefined one."""
    return "-" if value is None else f"{value:.{digits}f}"


def _is_number(cell: str) -> bool:
    try:
        float(cell.rstrip("%"))
    except ValueError:
        return cell in ("-", "")
    return True


def table(headers: list[str], rows: Sequence[Sequence[object]], indent: str = "  ") -> list[str]:
    """Columns padded to width; numeric columns right-aligned, the others left-aligned."""
    cells = [headers] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [i > 0 and all(_is_number(row[i]) for row in cells[1:]) for i in range(len(headers))]
    lines = []
    for row in cells:
        padded = [c.rjust(w) if n else c.ljust(w) for c, w, n in zip(row, widths, numeric)]
        lines.append(indent + "  ".join(padded).rstrip())
    return lines
