"""The dashboard served at ``/``: :mod:`.router` (page, static files, data endpoint) and
:mod:`.data` (what it shows, as JSON)."""
