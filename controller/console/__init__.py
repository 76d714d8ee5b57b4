"""The dispatcher console: static HTML/CSS/JS (no build step, no CDN) served by the controller.

The console is an ordinary API client: it signs in with a user's bearer token and calls the same
``/api/v1`` endpoints as any other client, with live updates over ``GET /api/v1/events`` (SSE).
"""

from __future__ import annotations

from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
