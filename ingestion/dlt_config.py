"""Reading one setting from dlt's configuration: the single reader the loaders, the sync and erasure share.

dlt looks a key up in its providers: environment variables (``SOURCES__HUBSPOT__BASE_URL``), ``.dlt/config.toml``
and, for secrets, ``.dlt/secrets.toml`` and any secret store configured. Secrets stay dlt secrets: they are read
here, handed to the code that needs them, and never written back anywhere.
"""

from __future__ import annotations

from typing import Any

import dlt
from dlt.common.configuration.exceptions import ConfigFieldMissingException


def dlt_setting(key: str, kind: type = str, secret: bool = False) -> Any | None:
    """The value of ``key`` (``"sources.hubspot.base_url"``) as ``kind``; None when it is unset or blank.

    A secret is read without a type hint: dlt then records it as a secret and masks it in its traces
    (``dlt.secrets.get(key, str)`` stored a token in ``trace.pickle`` in plain text).
    """
    try:
        value = dlt.secrets.get(key) if secret else dlt.config.get(key, kind)
    except ConfigFieldMissingException:
        return None
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return value
