"""Settings: environment ``QUANTDESK_*``, an optional ``.env``, an optional TOML file.

Precedence, highest first: environment variables, ``.env`` in the working
directory, the TOML file (``QUANTDESK_CONFIG``, default ``./quantdesk.toml``),
then the defaults below. Settings are validated once at start; an invalid one
raises :class:`~quantdesk.errors.ConfigError` naming the setting, e.g.
``QUANTDESK_API_PORT: must be between 1 and 65535 (got 70000)``.

Secrets (broker credentials, API tokens, passwords) are read only from the
environment or ``.env``, never from the TOML file, and are never logged.
"""

from __future__ import annotations

import importlib
import os
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from quantdesk.errors import ConfigError

if TYPE_CHECKING:
    from quantdesk.plugins import Registry

ENV_PREFIX = "QUANTDESK_"

#: Seed A's picture: buy when order book imbalance rises above 0.6, sell below -0.6;
#: plus the classic RSI 30/70 on 5-minute bars. The simulator's book meets the OBI rule
#: about 15 times an hour per stock (measured: tests/unit/sources/test_simulator_book.py),
#: so markers appear within minutes of a start at 1x.
DEFAULT_SIGNAL_RULES: tuple[dict[str, Any], ...] = (
    {"id": "obi", "factor": "obi", "buy_above": 0.6, "sell_below": -0.6, "cooldown_ms": 60_000},
    {"id": "rsi", "factor": "rsi_14", "interval": "5m", "buy_below": 30.0, "sell_above": 70.0},
)


#: Settings read only from the environment or ``.env``, never from the TOML file.
SECRET_FIELDS: frozenset[str] = frozenset(
    {
        "jwt_secret",
        "admin_password",
        "guest_password",
        "test_password",
        "tushare_token",
        "alphavantage_key",
        "alpaca_key_id",
        "alpaca_secret_key",
    }
)


#: Settings that name a plug-in, and the registry (``"module:NAME"``, imported only when
#: needed) their name must be in; a value may be ``name:argument`` (``replay:PATH``). A
#: plug point adds its setting here, to :data:`BUILTIN_PLUGINS` and to the validator
#: ``_plugin`` below (e.g. ``"model": "quantdesk.models.base:MODELS"``).
PLUGIN_SETTINGS: dict[str, str] = {
    "bus": "quantdesk.bus.base:BUSES",
    "source": "quantdesk.sources.base:SOURCES",
    "tweets": "quantdesk.sources.tweets:TWEET_SOURCES",
    "broker": "quantdesk.trading.brokers:BROKERS",
    "strategy": "quantdesk.trading.strategies:STRATEGIES",
}
#: Names the registries above register themselves: accepted without importing the
#: registry's module (the bus pulls NumPy in), so ``quantdesk config`` starts fast. Any
#: other name is looked up in the registry, with the plug-ins of installed packages
#: (entry points) and those a user's package registered. A test keeps these equal to
#: what the registries register.
BUILTIN_PLUGINS: dict[str, frozenset[str]] = {
    "bus": frozenset({"memory", "kafka"}),
    "source": frozenset({"simulator", "finnhub", "replay"}),
    "tweets": frozenset({"mock", "file", "http"}),
    "broker": frozenset({"paper", "alpaca"}),
    "strategy": frozenset({"t1", "signals", "buy_and_hold", "ma_cross", "momentum", "rl"}),
}
#: Database URL schemes of the built-in storage backends (``BACKENDS`` registers them).
BUILTIN_DATABASE_SCHEMES: frozenset[str] = frozenset({"sqlite", "postgresql", "postgres"})
#: The value that turns an optional plug point off.
OFF = "none"
#: Plug points that may be off.
OPTIONAL_PLUGINS: frozenset[str] = frozenset({"tweets"})


def plugin_registry(setting: str) -> Registry[Any]:
    """The registry the value of ``setting`` is checked against."""
    module_name, _, attr = PLUGIN_SETTINGS[setting].partition(":")
    registry: Registry[Any] = getattr(importlib.import_module(module_name), attr)
    return registry


def check_plugin(setting: str, value: str) -> str:
    """``value`` (``name`` or ``name:argument``) with its name normalised; ``ValueError``
    with one line listing the known names if nothing is registered under it."""
    name, sep, arg = value.strip().partition(":")
    name = name.strip().lower()
    if setting in OPTIONAL_PLUGINS and name == OFF:
        if arg:
            raise ValueError(f"{OFF} takes no argument (got {value!r})")
        return OFF
    if name in BUILTIN_PLUGINS.get(setting, ()):
        return f"{name}{sep}{arg.strip()}" if sep else name
    registry = plugin_registry(setting)
    if name not in registry:
        known = [*registry.names(), *([OFF] if setting in OPTIONAL_PLUGINS else [])]
        raise ValueError(f"unknown {registry.kind} {name!r}; known: {', '.join(sorted(known))}")
    return f"{name}{sep}{arg.strip()}" if sep else name


class _TomlSource(PydanticBaseSettingsSource):
    """Reads ``[quantdesk]`` (or top-level keys) from the TOML config file."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        path = Path(os.environ.get(f"{ENV_PREFIX}CONFIG", "quantdesk.toml"))
        self._data: dict[str, Any] = {}
        if path.is_file():
            try:
                raw = tomllib.loads(path.read_text(encoding="utf-8"))
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"QUANTDESK_CONFIG: {path} is not valid TOML ({exc})") from exc
            self._data = raw.get("quantdesk", raw)
        elif f"{ENV_PREFIX}CONFIG" in os.environ:
            raise ConfigError(f"QUANTDESK_CONFIG: file {path} does not exist")

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {
            k: v
            for k, v in self._data.items()
            if k in self.settings_cls.model_fields and k not in SECRET_FIELDS
        }


class Settings(BaseSettings):
    """Every setting of the platform; each maps to ``QUANTDESK_<NAME>``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    data_dir: Path = Field(Path("data"), description="Where SQLite, captures and exports live.")
    database_url: str = Field(
        "",
        description="sqlite:///path.db or postgresql://user@host/db; empty = SQLite in data_dir.",
    )
    api_host: str = Field("127.0.0.1", description="Address the API server binds to.")
    api_port: int = Field(8000, description="Port of the API server.")
    market: Literal["cn", "us"] = Field("cn", description="Default market: cn (A-shares) or us.")
    universe_file: Path | None = Field(
        None, description="CSV or TOML file replacing the preset universe."
    )
    seed: int = Field(42, description="Random seed of the market simulator.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Log level."
    )
    backfill_days: int = Field(30, description="Days backfilled by `run` on an empty store.")
    sim_speed: float = Field(1.0, description="Simulator speed multiple of real time.")
    sim_market_correlation: float = Field(
        0.5, description="Share of each stock's return variance from the market factor."
    )
    sim_sector_correlation: float = Field(
        0.3, description="Share of each stock's return variance from its sector factor."
    )
    sim_gap_rate: float = Field(0.05, description="Probability of an overnight gap per stock-day.")
    sim_jump_rate: float = Field(
        0.0005, description="Probability of an intraday jump per stock-minute."
    )
    bus: str = Field("memory", description="Message bus implementation: memory or kafka.")
    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers.")
    kafka_session_timeout_ms: int = Field(
        10_000, description="Kafka session timeout: how soon a dead worker's partitions move."
    )
    bus_topic_prefix: str = Field("quantdesk", description="Topic names are <prefix>.trades etc.")
    bus_partitions: int = Field(6, description="Partitions per topic (the most workers that help).")
    signal_rules: list[dict[str, Any]] = Field(
        default_factory=lambda: [dict(r) for r in DEFAULT_SIGNAL_RULES],
        description="Signal rules (JSON list in the environment, [[signal_rules]] in TOML).",
    )
    sentiment_rate: float = Field(
        1.0, description="Mocked tweets per second of event time in `run` (0 turns them off)."
    )
    tweets: str = Field(
        "mock",
        description="Tweets fed to `run`: mock, file:PATH (JSON lines, replayed in event time), "
        "http (Twitter v2 filtered stream) or none.",
    )
    checkpoint_seconds: float = Field(
        1.0, description="How often a stream consumer checkpoints its state and offsets."
    )
    finnhub_ws_url: str = Field(
        "wss://ws.finnhub.io", description="Finnhub WebSocket URL (the token is added from env)."
    )
    finnhub_backoff_base: float = Field(
        1.0, description="Finnhub reconnect back-off: first delay in seconds (doubles, jittered)."
    )
    finnhub_backoff_max: float = Field(60.0, description="Finnhub reconnect back-off: cap (s).")
    finnhub_silence_seconds: float = Field(
        30.0, description="A Finnhub connection with no trade and no ping this long is dead."
    )
    finnhub_heartbeat_seconds: float = Field(
        1.0, description="Wall seconds between clock heartbeats per symbol (bars close on time)."
    )
    finnhub_rest_settle_seconds: float = Field(
        15.0, description="Wait after a minute ends before fetching its REST candle."
    )
    finnhub_rest_timeout: float = Field(10.0, description="Timeout of one REST request (s).")
    finnhub_market_hours: bool = Field(
        False, description="Connect to Finnhub only while the exchange (XNYS) is open."
    )

    # -- API security (quantdesk.auth) ---------------------------------------
    jwt_secret: SecretStr = Field(
        SecretStr(""),
        description="HS256 key for API tokens; empty = random per process (tokens die on restart).",
    )
    jwt_expire_minutes: int = Field(60, description="Lifetime of an API access token.")
    admin_password: SecretStr = Field(
        SecretStr(""), description="Password of user admin at creation; empty = generated."
    )
    guest_password: SecretStr = Field(
        SecretStr(""), description="Password of user guest at creation; empty = generated."
    )
    test_password: SecretStr = Field(
        SecretStr(""), description="Password of user test at creation; empty = generated."
    )
    login_attempts_per_minute: int = Field(
        5, description="Failed logins allowed per username and client address per minute."
    )
    argon2_time_cost: int = Field(3, description="argon2id passes per password hash.")
    argon2_memory_kib: int = Field(65_536, description="argon2id memory per password hash (KiB).")
    cors_origins: str = Field(
        "", description="Comma-separated origins allowed by CORS (e.g. http://localhost:5173)."
    )
    ws_queue_size: int = Field(
        1_000, description="Messages queued per WebSocket client before the oldest are dropped."
    )
    ws_queue_bytes: int = Field(
        2 << 20,
        description="Bytes a WebSocket client may fall behind a channel before the oldest drop.",
    )
    ws_max_frame_bytes: int = Field(
        65_536, description="Largest message a WebSocket client may send (bigger: closed, 1009)."
    )
    api_workers: int = Field(1, description="API processes of `quantdesk serve` (one port).")

    # -- history providers (quantdesk.sources.history) -------------------------
    history_sources: str = Field(
        "akshare,yahoo,alphavantage,tushare,finnhub,local",
        description="History providers tried in this order by `backfill --source auto`.",
    )
    history_timeouts: dict[str, float] = Field(
        default_factory=dict,
        description='Per-provider timeout overrides in seconds (JSON, e.g. {"yahoo": 5}).',
    )
    history_max_jump: float = Field(
        0.5, description="A close-to-close move above this fraction rejects a provider's answer."
    )
    history_dir: Path | None = Field(
        None, description="Folder of the `local` history provider; empty = <data_dir>/raw."
    )
    eastmoney_url: str = Field(
        "https://push2his.eastmoney.com", description="Eastmoney kline API (the akshare source)."
    )
    yahoo_url: str = Field("https://query1.finance.yahoo.com", description="Yahoo chart API.")
    alphavantage_url: str = Field("https://www.alphavantage.co", description="Alpha Vantage API.")
    tushare_url: str = Field("http://api.tushare.pro", description="Tushare Pro API.")
    finnhub_rest_url: str = Field("https://finnhub.io/api/v1", description="Finnhub REST API.")
    tushare_token: SecretStr = Field(SecretStr(""), description="Tushare Pro token (secret).")
    alphavantage_key: SecretStr = Field(SecretStr(""), description="Alpha Vantage key (secret).")

    # -- capture and export ----------------------------------------------------
    capture_ticks: bool = Field(
        False, description="Capture raw trades and books to Parquet under <data_dir>/ticks."
    )
    export_csv: bool = Field(
        False, description="Append final bars to seed-E CSV files under <data_dir>/raw."
    )
    capture_batch_rows: int = Field(
        50_000, description="Tick capture: rows buffered before a Parquet part is written."
    )
    worker_metrics_port: int = Field(
        0, description="Port of the Prometheus /metrics of `quantdesk worker` (0: none)."
    )
    worker_metrics_host: str = Field(
        "127.0.0.1", description="Address the metrics port of `quantdesk worker` binds to."
    )

    # -- trading (quantdesk.trading, quantdesk.risk, quantdesk.backtest) -------
    broker: str = Field("paper", description="Broker by name: paper (default) or a plug-in.")
    strategy: str = Field(
        "t1",
        description="Strategy of `run`: t1, signals, buy_and_hold, ma_cross, momentum or rl.",
    )
    rl_agent: str = Field(
        "ppo",
        description="Agent of the rl strategy: ppo or dqn (its champion version, else newest).",
    )
    commission_rate: Decimal = Field(
        Decimal("0.00025"), description="A-share commission, fraction of an order's value."
    )
    min_commission: Decimal = Field(
        Decimal("5"), description="A-share minimum commission per order (CNY)."
    )
    stamp_duty: Decimal = Field(
        Decimal("0.0005"), description="A-share stamp duty on sells (0.001 before 2023-08-28)."
    )
    transfer_fee: Decimal = Field(
        Decimal("0.00001"), description="A-share transfer fee, both sides, fraction of value."
    )
    us_commission_rate: Decimal = Field(Decimal("0"), description="US commission (fraction).")
    us_min_commission: Decimal = Field(Decimal("0"), description="US minimum commission.")
    price_limit_main: Decimal = Field(Decimal("0.10"), description="A-share main-board limit.")
    price_limit_star: Decimal = Field(Decimal("0.20"), description="STAR (688xxx) daily limit.")
    price_limit_chinext: Decimal = Field(
        Decimal("0.20"), description="ChiNext (300xxx/301xxx) daily limit."
    )
    price_limit_st: Decimal = Field(Decimal("0.05"), description="ST-flagged stocks' limit.")
    price_limit_bse: Decimal = Field(
        Decimal("0.30"), description="Beijing Stock Exchange daily limit."
    )
    st_symbols: str = Field("", description="Comma-separated symbols flagged ST.")
    fill_volume_share: float = Field(
        0.25, description="Backtest fills: at most this share of a bar's volume."
    )
    slippage_ticks: int = Field(0, description="Backtest fills: ticks of slippage against you.")
    risk_max_order_value: Decimal = Field(
        Decimal("1000000"), description="Risk: largest order value (0 = no limit)."
    )
    risk_max_position_weight: float = Field(
        1.0, description="Risk: largest weight of one position in equity after a buy."
    )
    risk_max_gross_exposure: float = Field(
        1.0, description="Risk: largest market value of all positions over equity after a buy."
    )
    risk_max_orders_per_minute: int = Field(
        600, description="Risk: orders accepted per minute (event time)."
    )
    risk_daily_loss_limit: float = Field(
        0.05, description="Risk: loss since the day's start (fraction) that switches to REDUCING."
    )
    risk_drawdown_alert: float = Field(
        0.10, description="Risk: drawdown from the equity peak (fraction) that raises an alert."
    )
    t1_sell_time: str = Field("09:35", description="t1: sell-all time (exchange local).")
    t1_buy_time: str = Field("14:30", description="t1: buy time (exchange local).")
    t1_top_k: int = Field(5, description="t1: stocks bought each afternoon.")
    t1_min_gain: float = Field(0.0, description="t1: skip predicted gains below this fraction.")
    signals_order_value: Decimal = Field(
        Decimal("10000"), description="signals: value bought per buy signal."
    )
    trading: bool = Field(
        True, description="`run` trades the paper account with QUANTDESK_STRATEGY."
    )
    paper_cash: Decimal = Field(
        Decimal("1000000"), description="Initial cash of the live paper account."
    )
    paper_fills: str = Field(
        "bars", description="Live paper fills: bars (next bar's open, as backtests) or books."
    )
    alpaca_key_id: SecretStr = Field(SecretStr(""), description="Alpaca API key id (secret).")
    alpaca_secret_key: SecretStr = Field(
        SecretStr(""), description="Alpaca API secret key (secret)."
    )
    alpaca_url: str = Field(
        "https://paper-api.alpaca.markets", description="Alpaca trading API (paper by default)."
    )
    alpaca_data_url: str = Field(
        "https://data.alpaca.markets", description="Alpaca market data API (latest quotes)."
    )
    alpaca_stream_url: str = Field(
        "wss://paper-api.alpaca.markets/stream", description="Alpaca trade_updates stream."
    )

    @field_validator(
        "commission_rate",
        "min_commission",
        "stamp_duty",
        "transfer_fee",
        "us_commission_rate",
        "us_min_commission",
        "risk_max_order_value",
        "signals_order_value",
    )
    @classmethod
    def _non_negative_decimal(cls, v: Decimal) -> Decimal:
        if not v.is_finite() or v < 0:
            raise ValueError(f"must be a number >= 0 (got {v})")
        return v

    @field_validator(
        "price_limit_main",
        "price_limit_star",
        "price_limit_chinext",
        "price_limit_st",
        "price_limit_bse",
    )
    @classmethod
    def _limit_pct(cls, v: Decimal) -> Decimal:
        if not v.is_finite() or not 0 < v < 1:
            raise ValueError(f"must be a fraction between 0 and 1 (got {v})")
        return v

    @field_validator(
        "fill_volume_share",
        "risk_max_position_weight",
        "risk_daily_loss_limit",
        "risk_drawdown_alert",
    )
    @classmethod
    def _fraction(cls, v: float) -> float:
        if not 0 < v <= 1:
            raise ValueError(f"must be > 0 and <= 1 (got {v})")
        return v

    @field_validator("risk_max_gross_exposure")
    @classmethod
    def _exposure(cls, v: float) -> float:
        if not 0 < v <= 10:
            raise ValueError(f"must be > 0 and <= 10 (got {v})")
        return v

    @field_validator("slippage_ticks", "risk_max_orders_per_minute", "t1_top_k")
    @classmethod
    def _count(cls, v: int) -> int:
        if v < 0 or v > 1_000_000:
            raise ValueError(f"must be between 0 and 1000000 (got {v})")
        return v

    @field_validator("t1_sell_time", "t1_buy_time")
    @classmethod
    def _clock_time(cls, v: str) -> str:
        import datetime as _dt

        try:
            _dt.time.fromisoformat(v.strip())
        except ValueError:
            raise ValueError(f"must be a local time HH:MM (got {v!r})") from None
        return v.strip()

    @field_validator("paper_fills")
    @classmethod
    def _paper_fills(cls, v: str) -> str:
        mode = v.strip().lower()
        if mode not in ("bars", "books"):
            raise ValueError(f"use bars or books (got {v!r})")
        return mode

    @field_validator("paper_cash")
    @classmethod
    def _paper_cash(cls, v: Decimal) -> Decimal:
        if not v.is_finite() or v <= 0:
            raise ValueError(f"must be > 0 (got {v})")
        return v

    @field_validator("rl_agent")
    @classmethod
    def _rl_agent(cls, v: str) -> str:
        name = v.strip().lower()
        if name not in ("ppo", "dqn"):
            raise ValueError(f"must be ppo or dqn (got {v!r})")
        return name

    @field_validator("broker", "strategy")
    @classmethod
    def _plugin_name(cls, v: str) -> str:
        name = v.strip().lower()
        if not name:
            raise ValueError("must be a non-empty name")
        return name

    sim_planted_beta: float = Field(
        0.0,
        description="Planted signal (control): next morning's return = beta x today's morning "
        "return + noise; 0 = off.",
    )
    model_dir: Path | None = Field(
        None, description="Where model artifacts live; empty = <data_dir>/models."
    )
    model_seq_len: int = Field(20, description="Trading days each sequence model (LSTM...) sees.")
    model_epochs: int = Field(20, description="Epochs of a full neural-network training.")
    model_retrain_days: int = Field(
        20, description="Walk-forward evaluation: retrain every N trading days."
    )
    model_tune_trials: int = Field(
        20, description="Optuna hyper-parameter search budget (trials per search)."
    )

    # -- jobs (quantdesk.jobs): seed B's trading day on the exchange clock ----------
    jobs: bool = Field(
        True, description="`run` starts the job scheduler (seed B's trading day); off = none."
    )
    model: str = Field(
        "lstm", description="Model of the predict/train jobs (a name of `quantdesk models`)."
    )
    jobs_schedules: dict[str, str] = Field(
        default_factory=dict,
        description='Job schedules replacing the defaults (JSON: {"sell": "cron:40 9 * * *"}).',
    )
    jobs_misfire_grace_seconds: float = Field(
        900.0,
        description="A fire time missed while no scheduler ran still runs if at most this late.",
    )
    jobs_lease_seconds: float = Field(
        30.0, description="Scheduler lease: a dead scheduler's store is taken over after this."
    )
    jobs_poll_seconds: float = Field(
        1.0, description="Longest wall wait between scheduler checks (manual runs, changes)."
    )
    jobs_sync_source: str = Field(
        "",
        description="History providers price_sync/history_sync fetch from (e.g. auto); "
        "empty = the store as the runtime fills it.",
    )
    retention_factor_days: float = Field(
        7.0, description="cleanup: factor values older than this many days (0 = keep all)."
    )
    retention_dead_letter_days: float = Field(
        30.0, description="cleanup: dead letters older than this many days (0 = keep all)."
    )
    retention_tick_days: float = Field(
        7.0, description="cleanup: captured tick days older than this many days (0 = keep all)."
    )
    retention_job_run_days: float = Field(
        180.0, description="cleanup: job runs older than this many days (0 = keep all)."
    )
    retention_model_versions: int = Field(
        5, description="cleanup: unaliased model versions kept per model (0 = keep all)."
    )

    # -- the live source of `run` (quantdesk.sources) ---------------------------
    source: str = Field(
        "simulator",
        description="Live source of `run`: simulator, finnhub or replay:PATH (a tick capture).",
    )
    symbols: str = Field(
        "", description="Symbols of `run` (comma-separated); empty = the source's default."
    )

    # -- hardening (issue 16) --------------------------------------------------
    forwarded_allow_ips: str = Field(
        "",
        description="Comma-separated proxy addresses whose X-Forwarded-For/-Proto are trusted; "
        "empty = none (the client address is the socket's).",
    )
    login_attempts_per_user_per_minute: int = Field(
        20, description="Failed logins allowed per username per minute, over all client addresses."
    )
    max_body_bytes: int = Field(
        1 << 20, description="Largest request body accepted (bytes); larger gets 413."
    )

    # -- API keys, request limit, log file (issue 15) ----------------------------------
    rate_limit_per_minute: int = Field(
        1200,
        description="API requests allowed per API key, or per client address without a key, "
        "per minute (0 = no limit); over it: 429 with Retry-After.",
    )
    rate_limit_burst: int = Field(
        100,
        description="API requests a key or client address may send at once before the "
        "per-minute rate applies.",
    )
    log_file: str = Field(
        "logs/quantdesk.log",
        description="Log file (relative paths are under data_dir); rotated by size; "
        "empty = no file.",
    )
    log_file_max_bytes: int = Field(
        10 * 1024 * 1024, description="Log file size at which it is rotated (bytes)."
    )
    log_file_backups: int = Field(5, description="Rotated log files kept (quantdesk.log.1 ...).")
    log_format: Literal["text", "json"] = Field(
        "text", description="Log records as text lines or JSON lines (for log shippers)."
    )

    @field_validator("rate_limit_per_minute")
    @classmethod
    def _rate_non_negative(cls, v: int) -> int:
        if v < 0:
            raise ValueError(f"must be >= 0 (got {v})")
        return v

    @field_validator("rate_limit_burst", "log_file_backups")
    @classmethod
    def _issue15_positive(cls, v: int) -> int:
        if v < 1:
            raise ValueError(f"must be >= 1 (got {v})")
        return v

    @field_validator("log_file_max_bytes")
    @classmethod
    def _log_size(cls, v: int) -> int:
        if v < 1024:
            raise ValueError(f"must be >= 1024 bytes (got {v})")
        return v

    @property
    def resolved_log_file(self) -> Path | None:
        """The log file's path (``log_file`` under ``data_dir`` unless absolute), or None."""
        if not self.log_file.strip():
            return None
        path = Path(self.log_file.strip())
        return path if path.is_absolute() else self.data_dir / path

    @field_validator("jwt_secret")
    @classmethod
    def _jwt_secret(cls, v: SecretStr) -> SecretStr:
        size = len(v.get_secret_value().encode())
        if 0 < size < 32:
            raise ValueError(
                f"must be at least 32 bytes (got {size}); make one with "
                "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        return v

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxies(cls, v: str) -> str:
        import ipaddress

        for item in (x.strip() for x in v.split(",")):
            if not item or item == "*":
                continue
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(
                    f"{item[:40]!r} is not an IP address or network (e.g. 10.0.0.5,10.1.0.0/16)"
                ) from None
        return v.strip()

    @field_validator("login_attempts_per_user_per_minute", "max_body_bytes")
    @classmethod
    def _hardening_positive(cls, v: int) -> int:
        if v < 1:
            raise ValueError(f"must be >= 1 (got {v})")
        return v

    @field_validator("argon2_memory_kib")
    @classmethod
    def _argon_memory(cls, v: int) -> int:
        if v < 8:
            raise ValueError(f"must be >= 8 KiB (got {v})")
        return v

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    @field_validator("bus", "source", "tweets", "broker", "strategy")
    @classmethod
    def _plugin(cls, v: str, info: ValidationInfo) -> str:
        assert info.field_name is not None
        return check_plugin(info.field_name, v)

    @field_validator("api_port")
    @classmethod
    def _port(cls, v: int) -> int:
        if not 1 <= v <= 65535:
            raise ValueError(f"must be between 1 and 65535 (got {v})")
        return v

    @field_validator("worker_metrics_port")
    @classmethod
    def _port_or_off(cls, v: int) -> int:
        if not 0 <= v <= 65535:
            raise ValueError(f"must be between 0 (off) and 65535 (got {v})")
        return v

    @field_validator("database_url")
    @classmethod
    def _db_url(cls, v: str) -> str:
        """The URL's scheme names a storage backend (:data:`quantdesk.storage.base.BACKENDS`,
        which a user's package can extend); the built-in ones are known without importing it."""
        if not v:
            return v
        scheme, sep, _ = v.partition("://")
        scheme = scheme.lower()
        if sep and scheme in BUILTIN_DATABASE_SCHEMES:
            return v
        from quantdesk.storage.base import BACKENDS

        if not sep or scheme not in BACKENDS:
            known = ", ".join(f"{s}://" for s in sorted(BACKENDS.names()))
            raise ValueError(f"must start with one of {known} (got {v.split(':')[0]}:)")
        return v

    @field_validator(
        "sim_market_correlation", "sim_sector_correlation", "sim_gap_rate", "sim_jump_rate"
    )
    @classmethod
    def _unit(cls, v: float) -> float:
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"must be between 0 and 1 (got {v})")
        return v

    @field_validator(
        "jwt_expire_minutes",
        "login_attempts_per_minute",
        "argon2_time_cost",
        "ws_queue_size",
        "ws_queue_bytes",
        "ws_max_frame_bytes",
        "api_workers",
        "bus_partitions",
        "kafka_session_timeout_ms",
        "capture_batch_rows",
        "model_seq_len",
        "model_epochs",
        "model_retrain_days",
        "model_tune_trials",
    )
    @classmethod
    def _at_least_one(cls, v: int) -> int:
        if v < 1:
            raise ValueError(f"must be >= 1 (got {v})")
        return v

    @field_validator("backfill_days", "finnhub_rest_settle_seconds")
    @classmethod
    def _non_negative(cls, v: float) -> float:
        if v < 0:
            raise ValueError(f"must be >= 0 (got {v})")
        return v

    @field_validator(
        "sim_speed",
        "finnhub_backoff_base",
        "finnhub_backoff_max",
        "finnhub_silence_seconds",
        "finnhub_heartbeat_seconds",
        "finnhub_rest_timeout",
    )
    @classmethod
    def _positive(cls, v: float) -> float:
        if v <= 0:
            raise ValueError(f"must be > 0 (got {v})")
        return v

    @field_validator(
        "jobs_misfire_grace_seconds",
        "retention_factor_days",
        "retention_dead_letter_days",
        "retention_tick_days",
        "retention_job_run_days",
        "retention_model_versions",
    )
    @classmethod
    def _jobs_non_negative(cls, v: float) -> float:
        if v < 0:
            raise ValueError(f"must be >= 0 (got {v})")
        return v

    @field_validator("jobs_lease_seconds", "jobs_poll_seconds")
    @classmethod
    def _jobs_positive(cls, v: float) -> float:
        if v <= 0:
            raise ValueError(f"must be > 0 (got {v})")
        return v

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, dotenv_settings, _TomlSource(settings_cls))

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to ``sqlite:///<data_dir>/quantdesk.db``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'quantdesk.db').as_posix()}"

    @property
    def resolved_model_dir(self) -> Path:
        """Where model artifacts live: ``model_dir`` or ``<data_dir>/models``."""
        return self.model_dir if self.model_dir is not None else self.data_dir / "models"


def load_settings(**overrides: Any) -> Settings:
    """Load and validate settings; raise a one-line :class:`ConfigError` on a bad value."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        err = exc.errors()[0]
        name = ENV_PREFIX + str(err["loc"][0]).upper() if err["loc"] else "settings"
        msg = str(err["msg"]).removeprefix("Value error, ")
        field = str(err["loc"][0]) if err["loc"] else ""
        # pydantic's own messages ("Input should be 'cn' or 'us'") do not say what was
        # given; quantdesk's validators do, in their own words
        if err["type"] != "value_error" and field not in SECRET_FIELDS and "input" in err:
            msg += f" (got {str(err['input'])[:60]!r})"  # never for a secret
        raise ConfigError(f"{name}: {msg}") from None
