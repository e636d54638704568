"""The append transaction's receipts: every proof comes from memory and verifies."""

from __future__ import annotations

import pytest

from audit_log import merkle
from audit_log.checkpoint import Signer, generate_private_key_pem, load_private_key_pem
from audit_log.store import Log
from service.storage.db import make_engine


@pytest.mark.parametrize("batches", [[1, 1, 1, 1, 1], [3, 5, 8], [7, 1, 16, 2], [64, 1, 33]])
def test_every_receipt_proof_verifies_for_any_batch_split(sqlite_url, batches):
    signer = Signer("test.example/log", load_private_key_pem(generate_private_key_pem()))
    log = Log(engine=make_engine(sqlite_url), origin="test.example/log", signers=(signer,))
    n = 0
    for size in batches:
        with log.append() as tx:
            added = [
                tx.add({"kind": "test", "id": f"t_{n + i}", "time": "2026-01-01T00:00:00.000Z"})
                for i in range(size)
            ]
        n += size
        assert tx.tree_size == n
        for a in added:
            merkle.check_record(tx.proofs[a.index], tx.tree_size, tx.root, a.index, a.leaf_hash)
    log.engine.dispose()
