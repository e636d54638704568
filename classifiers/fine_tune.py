"""Fine-tune the encoder's upper layers on the training labels (training only; needs the
``train`` extra, which brings torch).

What is tuned: :class:`classifiers.sentence_encoder.UpperLayers`, the pooled projection and
the feed-forward tail (1.7 million weights), starting from the pretrained ones. The
token-level layers (the 66-million-weight embedding table and the convolutions) stay the
published ones, so training reads each text's pooled token sums once (cached) and an
epoch over a hundred thousand texts takes seconds, not the hours a full pass would.

The objective is every label at once: one linear output per label over the embedding and
the n-gram model's standardised log-odds, binary cross-entropy on the rows that carry the
label, weighted as the heads weigh them, each label's loss averaged over its own rows so
that the large corpora do not drown the small labels. The n-gram log-odds sit beside the
embedding so the encoder learns what the n-gram model misses rather than what it already
knows. The tuned weights are pulled towards the pretrained ones (L2, :data:`PULL`), and
training stops at the epoch with the lowest loss on a seeded tenth of the rows
(:data:`EPOCHS` at most, :data:`PATIENCE` epochs without improvement).

Determinism: seeded, one thread, deterministic algorithms; the same inputs on the same
machine and torch version give the same weights.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from classifiers.sentence_encoder import UPPER_LAYER_NAMES, UpperLayers

PULL = 1e-2
"""L2 strength pulling each tuned weight towards its pretrained value."""
LEARNING_RATE = 3e-4
"""Adam's step for the encoder's weights (the label outputs, which start from zero, take
ten times this)."""
EPOCHS = 8
PATIENCE = 2
BATCH_ROWS = 512
EMBEDDING_GAIN = 8.0
"""The L2-normalised embedding's entries are about 0.04; the label outputs read it scaled
by this so that their weights and the n-gram ones start on a similar footing."""


def fine_tune_upper(
    start: UpperLayers,
    pooled: np.ndarray,
    ngram_standard: np.ndarray,
    targets: np.ndarray,
    weights: np.ndarray,
    seed: int,
    log: Callable[[str], None],
) -> UpperLayers:
    """Upper layers tuned on the given rows.

    ``pooled`` holds :meth:`SentenceEncoder.pooled` rows, ``ngram_standard`` the n-gram
    log-odds (standardised), ``targets`` one column per label with 0, 1 or -1 (the row
    does not carry the label) and ``weights`` the matching training weights."""
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    labels = targets.shape[1]
    pretrained = {name: torch.tensor(start.weights[name]) for name in UPPER_LAYER_NAMES}

    class Tuned(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = torch.nn.ParameterDict(
                {name: torch.nn.Parameter(value.clone()) for name, value in pretrained.items()}
            )
            self.outputs = torch.nn.Linear(start.weights["d3"].shape[1] + labels, labels)
            torch.nn.init.zeros_(self.outputs.weight)
            torch.nn.init.zeros_(self.outputs.bias)

        def embed(self, rows: torch.Tensor) -> torch.Tensor:
            w = self.layers
            sums, counts = rows[:, :-1], rows[:, -1:]
            mean = (sums @ w["cnn_W"] + counts * w["cnn_b"]) / torch.sqrt(counts)
            first = torch.relu(mean @ w["d0"])
            second = torch.relu(mean @ w["p1"] + first @ w["d1"])
            third = torch.relu(second @ w["d2"])
            out = torch.tanh(second @ w["p3"] + third @ w["d3"])
            norms = torch.sqrt(torch.clamp((out * out).sum(dim=1, keepdim=True), start.epsilon))
            return out / norms

        def forward(self, rows: torch.Tensor, ngram: torch.Tensor) -> torch.Tensor:
            logits: torch.Tensor = self.outputs(
                torch.cat([self.embed(rows) * EMBEDDING_GAIN, ngram], dim=1)
            )
            return logits

    model = Tuned()
    optimiser = torch.optim.Adam(
        [
            {"params": model.layers.parameters(), "lr": LEARNING_RATE},
            {"params": model.outputs.parameters(), "lr": LEARNING_RATE * 10},
        ]
    )
    inputs = torch.tensor(pooled, dtype=torch.float32)
    ngram = torch.tensor(ngram_standard, dtype=torch.float32)
    wanted = torch.tensor(np.clip(targets, 0, 1), dtype=torch.float32)
    weight = torch.tensor(np.where(targets >= 0, weights, 0.0), dtype=torch.float32)

    def label_losses(index: np.ndarray) -> torch.Tensor:
        rows = torch.from_numpy(index)
        logits = model(inputs[rows], ngram[rows])
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            logits, wanted[rows], reduction="none"
        )
        return (loss * weight[rows]).sum(dim=0) / weight[rows].sum(dim=0).clamp_min(1e-6)

    def pull() -> torch.Tensor:
        return sum(
            (((model.layers[name] - pretrained[name]) ** 2).sum() for name in UPPER_LAYER_NAMES),
            torch.zeros(()),
        )

    random = np.random.RandomState(seed)
    order = random.permutation(len(pooled))
    held, train = order[: len(order) // 10], order[len(order) // 10 :]
    best_loss, best_epoch = float("inf"), -1
    best: dict[str, np.ndarray] = {}
    for epoch in range(EPOCHS):
        model.train()
        random.shuffle(train)
        for begin in range(0, len(train), BATCH_ROWS):
            loss = label_losses(train[begin : begin + BATCH_ROWS]).sum() + PULL * pull()
            optimiser.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimiser.step()
        model.eval()
        with torch.no_grad():
            held_loss = float(label_losses(held).sum())
        log(f"  fine-tuning epoch {epoch + 1}: held-out loss {held_loss:.4f}")
        if held_loss < best_loss:
            best_loss, best_epoch = held_loss, epoch
            best = {
                name: model.layers[name].detach().numpy().astype(np.float32, copy=True)
                for name in UPPER_LAYER_NAMES
            }
        elif epoch - best_epoch >= PATIENCE:
            break
    return UpperLayers(best, start.epsilon)


def fine_tuning_settings() -> dict[str, object]:
    """The settings above and the torch version, for the training report."""
    import torch

    return {
        "pull": PULL,
        "learning_rate": LEARNING_RATE,
        "epochs": EPOCHS,
        "patience": PATIENCE,
        "batch_rows": BATCH_ROWS,
        # A plain string: torch's own version type would make unpickling the heads import
        # torch, which serving does not need.
        "torch": str(torch.__version__),
    }
