"""Bars: session-anchored buckets and the batch aggregation (trades -> bars, 1m -> larger)."""

from quantdesk.bars.batch import aggregate_trades, rollup_bars, rollup_periods

__all__ = ["aggregate_trades", "rollup_bars", "rollup_periods"]
