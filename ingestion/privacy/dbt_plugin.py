"""dbt-duckdb plugin (profiles.yml ``plugins``): hands the erasure salt to each dbt connection as the
DuckDB session variable ``customer360_erasure_salt``, so the erasure guard
(``int_engagement__erasure_guard``) can hash an address at read time. The salt is bound as a query
parameter: it never appears in compiled SQL, dbt's logs or ``target/``."""

from __future__ import annotations

from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin

from ingestion.privacy.erasure import set_session_salt


class Plugin(BasePlugin):
    def configure_connection(self, conn: Any) -> None:
        set_session_salt(conn)

    def configure_cursor(self, cursor: Any) -> None:
        set_session_salt(cursor)
