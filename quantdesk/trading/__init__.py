"""Trading: market rules per market, the ledger, brokers, strategies.

=====================  ===============================================================
module                 what
=====================  ===============================================================
``market``             :class:`MarketRules` per market (``cn``, ``us``): T+1, lots,
                       price limits, sessions; ``costs``: the fee schedule
``ledger``             cash and positions rebuilt from fills; freezes of open orders
``orders``             :class:`OrderRequest`, order ids
``quotes``             :class:`MarketView`: last prices, previous closes, books
``journal``            where orders, fills and alerts are written
``brokers``            the broker interface and registry (``paper``, ``alpaca``)
``strategies``         the strategy interface and registry (``t1``, ``signals``,
                       ``buy_and_hold``, ``ma_cross``)
``trader``             strategy -> risk engine -> broker, the same live and in backtests
``steps``              when a step of bars is decided (decision time, order day, session)
``session``            live trading one closed cross-section at a time (the backtest step)
``history``            the (time x symbol) bar panel a strategy reads, up to now
``signal_feed``        signals for the ``signals`` strategy (recorded, or from bar rules)
=====================  ===============================================================
"""
