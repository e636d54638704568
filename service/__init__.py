"""Fair Witness: moderation against public policies, every decision in a verifiable log."""

from service.app import create_app

__all__ = ["create_app"]
