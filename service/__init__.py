"""Fair Witness: moderation against public policies, every decision in a verifiable log."""

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # Lazy, so offline commands (``fairwitness verify``) start without Flask and models.
    if name == "create_app":
        from service.app import create_app

        return create_app
    raise AttributeError(name)
