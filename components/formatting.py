"""Numbers for people: durations, file sizes and money."""

from __future__ import annotations


def clock(seconds: float, decimals: int = 1) -> str:
    """12.5 -> '0:12.5'; 3725 -> '1:02:05.0'; clock(0.04, 2) -> '0:00.04'."""
    minutes, secs = divmod(round(float(seconds), decimals), 60)
    hours, minutes = divmod(int(minutes), 60)
    secs_text = f"{secs:0{3 + decimals}.{decimals}f}"
    return f"{hours}:{minutes:02d}:{secs_text}" if hours else f"{minutes}:{secs_text}"


def file_size(n: int) -> str:
    """Bytes for people: 21.6 KB, 34.0 MB, 1.2 GB."""
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n} bytes"


def money(amount: float) -> str:
    """Dollars with cents, or tenths of a cent below a dollar so small costs do not read $0.00."""
    return f"${amount:,.2f}" if amount >= 1 or amount == 0 else f"${amount:.3f}"
