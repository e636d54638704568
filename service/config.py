"""Settings, read from ``FAIRWITNESS_*`` environment variables alone."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, cast

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
# Variables that meant something once: a deployment that still sets one expects a
# behaviour the service no longer has, so it is refused at start rather than ignored.
RETIRED = {
    "FAIRWITNESS_RATE_LIMIT_APPEALS_PER_DECISION": (
        "no longer exists: a limit per decision let anyone lock its author out of "
        "appealing. Refused attempts are limited per address by "
        "FAIRWITNESS_RATE_LIMIT_APPEAL_FAILURES_PER_IP; unset this variable"
    ),
    "FAIRWITNESS_RATE_LIMIT_APPEALS_PER_IP": (
        "is now FAIRWITNESS_RATE_LIMIT_APPEAL_FAILURES_PER_IP, which counts only refused "
        "attempts, never an appeal filed with its decision's token; rename it"
    ),
}


@dataclass(frozen=True)
class Settings:
    """Everything a deployment may set. Defaults give the embedded SQLite instance."""

    instance_dir: Path = Path("instance")
    database_url: str = ""
    policy_dir: Path = PACKAGE_ROOT / "policies" / "library"
    log_origin: str = "fairwitness.example/log"
    default_policy: str = "civility"
    max_body_bytes: int = 256 * 1024
    max_batch_items: int = 1000
    db_timeout_seconds: float = 5.0
    sqlite_synchronous: str = "NORMAL"
    public_url: str = "http://127.0.0.1:8080"
    # How long the old signing key keeps signing beside the new one after a rotation.
    key_overlap: str = "P7D"
    # Rate limits: "memory" (per server process), "database" (shared by every server
    # on the database) or "off". Limits read like "300 per minute"; "none" lifts one.
    rate_limit_storage: str = "memory"
    rate_limit_public: str = "300 per minute"
    # Appeal attempts per client address that no valid token or key authenticated.
    rate_limit_appeal_failures_per_ip: str = "10 per hour"
    # Reverse proxies in front of the service whose X-Forwarded-For is trusted.
    trusted_proxy_hops: int = 0
    max_query_bytes: int = 4096
    # Seconds `fairwitness serve` gives in-flight requests to finish after SIGTERM.
    graceful_timeout: int = 30
    # Webhooks go only to public addresses unless this is set (a test or an intranet
    # deployment): otherwise any client app could make the server call its neighbours.
    webhook_allow_private: bool = False

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.instance_dir / 'fairwitness.db').resolve()}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``FAIRWITNESS_<FIELD>`` variables; unknown ones are ignored,
        retired ones refused with what replaced them."""
        env = os.environ if environ is None else environ
        for name, replacement in RETIRED.items():
            if env.get(name):
                raise ValueError(f"{name} {replacement}.")
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(f"FAIRWITNESS_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            default = getattr(cls, f.name)
            try:
                if isinstance(default, bool):
                    values[f.name] = _flag(raw)
                    continue
                values[f.name] = type(default)(raw) if not isinstance(default, Path) else Path(raw)
            except ValueError as exc:
                raise ValueError(f"FAIRWITNESS_{f.name.upper()}: {exc}") from exc
        return _with_values(cls(), values)

    def with_overrides(self, overrides: Mapping[str, object]) -> Settings:
        known = {f.name for f in fields(self)}
        unknown = set(overrides) - known
        if unknown:
            raise ValueError(f"unknown settings: {sorted(unknown)}")
        coerced: dict[str, object] = {}
        for name, value in overrides.items():
            default = getattr(type(self), name)
            coerced[name] = _as_path(value) if isinstance(default, Path) else value
        return _with_values(self, coerced)


def _with_values(base: Settings, values: Mapping[str, object]) -> Settings:
    # Each field's type is looked up at run time, so mypy cannot match `values` to the
    # fields through `**`: the callers coerced every value to its field's type.
    return replace(base, **cast("dict[str, Any]", values))


def _as_path(value: object) -> Path:
    if isinstance(value, (str, os.PathLike)):
        return Path(value)
    raise TypeError(f"expected a str or an os.PathLike object, not {type(value).__name__!r}")


def _flag(raw: str) -> bool:
    # bool("false") is True: spell the accepted words out instead.
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{raw!r} is not one of true/false, yes/no, on/off, 1/0")
