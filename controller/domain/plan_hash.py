"""The hash an approval binds to: everything about a sortie's plan that matters for safety."""

from __future__ import annotations

import hashlib
import json
from typing import Any

# Keys of a sortie plan that an approval covers; anything else (labels, display hints) may change freely.
BOUND_PLAN_KEYS = ("drone_id", "origin_pad", "stops", "route", "mission_items", "fence_items", "rally_items",
                   "wind", "altitude_m", "geofence_version", "payload_kg", "parcel_ids")


def plan_hash(plan: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of the plan's bound keys.

    >>> plan_hash({"route": [[30.7, 122.4]]}) == plan_hash({"route": [[30.7, 122.4]], "label": "x"})
    True
    """
    bound = {key: plan.get(key) for key in BOUND_PLAN_KEYS}
    canonical = json.dumps(bound, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
