"""quantdesk: a self-hosted, real-time quantitative stock platform."""

__version__ = "0.1.0"
