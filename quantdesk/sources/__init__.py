"""Sources: where market data and tweets come from (they know nothing of bars or storage).

* :mod:`.base` -- the live-source interface (its table of members) and the
  :data:`~quantdesk.sources.base.SOURCES` registry behind ``--source``;
* :mod:`.simulator`, :mod:`.finnhub`, :mod:`.replay` -- the live market sources;
* :mod:`.tweets` -- the tweet sources behind ``--tweets``;
* :mod:`.history` -- history providers for ``backfill --source`` (bars, not live).
"""
