"""The web dashboard (see :mod:`quantdesk.web.dashboard`)."""
