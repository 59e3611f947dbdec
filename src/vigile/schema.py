"""JSON Schema of the access event, derived from :class:`vigile.events.AccessEvent`.

The shipped copy (``schema/access-event.schema.json``) is checked against this
by the tests, so the two never drift apart.
"""

from __future__ import annotations

from typing import Any

import msgspec

from vigile.events import EXTRA_WIRE_NAME, AccessEvent


def access_event_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one interface event line."""
    raw = msgspec.json.schema(AccessEvent)
    body: dict[str, Any] = raw["$defs"]["AccessEvent"]
    body["properties"].pop(EXTRA_WIRE_NAME, None)
    body["additionalProperties"] = True
    body["properties"]["ts"]["description"] = (
        "When the request was served: RFC 3339 with an offset."
    )
    body["properties"]["records"]["description"] = "Records carried; default len(patient_ids)."
    body["properties"]["status"]["description"] = "HTTP-style outcome: 2xx served, 401/403 refused."
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://vigile.dev/schema/access-event.schema.json",
        **body,
        "title": "vigile access event",
        "description": (
            "One application request that touched patient data (or a login). Unknown extra "
            "fields are kept. See INTERFACE.md §1."
        ),
    }
