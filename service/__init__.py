"""Fair Witness: moderation against public policies, every decision in a verifiable log."""
