"""Seed B's trading day as scheduled jobs on the exchange clock.

=====================  ==========================  =========================================
job                    default schedule (exchange  what it does
                       local time)
=====================  ==========================  =========================================
``init``               once (first start, or no    backfill, universe, permissions
                       bars in the store)
``stock_list_sync``    every 3 days at 08:30       listings, delistings, ST names
``permission_refresh`` 1 Jan and 1 Jul, 08:00      board / ST / suspended per stock
``price_sync``         9:00 trading days           latest prices into the price table
``sell``               9:35 trading days           T+1 morning half (strategy)
``history_sync``       12:00 trading days          the morning's bars complete in the store
``predict``            12:05 trading days          tomorrow's predictions (model)
``buy``                13:30 trading days          T+1 afternoon half on the prediction
``order_sync``         15:30 trading days (US      the day's orders, fills and P&L settled
                       16:30)                      (broker)
``train``              Saturday 10:00              weekly incremental training (model)
``cleanup``            the 1st of a month, 20:00   data retention (:mod:`.retention`)
=====================  ==========================  =========================================

:data:`JOBS` is the registry (:class:`quantdesk.plugins.Registry`); a user's
package adds a job with ``JOBS.register("name", "pkg.module:JobClass")`` or
the entry-point group ``quantdesk.jobs``. The interface is
:class:`quantdesk.jobs.base.Job`; the dispatcher is
:class:`quantdesk.jobs.scheduler.Scheduler`.
"""

from __future__ import annotations

from quantdesk.jobs.base import Job, JobContext, JobEnvironment
from quantdesk.plugins import Registry

__all__ = ["JOBS", "Job", "JobContext", "JobEnvironment"]

JOBS: Registry[type[Job]] = Registry("job", "QUANTDESK_JOBS_SCHEDULES")
for _name, _target in (
    ("init", "quantdesk.jobs.init:Init"),
    ("stock_list_sync", "quantdesk.jobs.stock_list_sync:StockListSync"),
    ("permission_refresh", "quantdesk.jobs.permission_refresh:PermissionRefresh"),
    ("price_sync", "quantdesk.jobs.price_sync:PriceSync"),
    ("sell", "quantdesk.jobs.sell:Sell"),
    ("history_sync", "quantdesk.jobs.history_sync:HistorySync"),
    ("predict", "quantdesk.jobs.predict:Predict"),
    ("buy", "quantdesk.jobs.buy:Buy"),
    ("order_sync", "quantdesk.jobs.order_sync:OrderSync"),
    ("train", "quantdesk.jobs.train:Train"),
    ("cleanup", "quantdesk.jobs.cleanup:Cleanup"),
):
    JOBS.register(_name, _target)
