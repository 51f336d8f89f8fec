"""The instruction embeddings training feeds the network: each dataset instruction, or now and then a paraphrase.

A policy trained on a handful of templates learns their exact embeddings; swapping a
sample's instruction for another wording of the same command (``sim.language.PARAPHRASES``)
makes it rely on what the wordings share. Validation always uses the dataset's own text.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from robostral.language import EMBEDDING_DIM
from robostral.language.minilm import MiniLMEncoder
from sim.language import paraphrases, swap_named


class InstructionEmbeddings:
    """Embeddings of a dataset's instructions (its tasks), and of their paraphrases to draw from."""

    def __init__(self, tasks: Sequence[str], encoder: MiniLMEncoder, paraphrase_prob: float = 0.0) -> None:
        self.originals = encoder.encode(list(tasks))
        self.paraphrase_prob = paraphrase_prob
        wordings = [paraphrases(text) if paraphrase_prob else [] for text in tasks]
        unique = sorted({w for ws in wordings for w in ws})
        if paraphrase_prob and not unique:
            raise ValueError(f"paraphrase_prob is {paraphrase_prob}, but none of the dataset's {len(tasks)} "
                             "instructions is a sim.language train phrasing, so none has paraphrases")
        self.alternatives = encoder.encode(unique) if unique else self.originals[:0]
        self.texts = [*tasks, *unique]  # every wording training draws: the originals, then the alternatives
        row = {text: i for i, text in enumerate(unique)}
        counts = [len(ws) for ws in wordings]
        self.counts = torch.tensor(counts, dtype=torch.long)
        # options[i, j]: the row of ``alternatives`` holding task i's j-th paraphrase (padding past counts[i]).
        self.options = torch.zeros((len(tasks), max([1, *counts])), dtype=torch.long)
        for i, ws in enumerate(wordings):
            self.options[i, : len(ws)] = torch.tensor([row[w] for w in ws], dtype=torch.long)

    @property
    def embeddings(self) -> torch.Tensor:
        """The embeddings of ``texts``, in their order."""
        return torch.cat([self.originals, self.alternatives])

    @property
    def paraphrased_tasks(self) -> int:
        """How many of the dataset's instructions have paraphrases to draw from."""
        return int((self.counts > 0).sum())

    def sample(self, task: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """(B, 384) embeddings for task indices ``task``: each swapped for a paraphrase with ``paraphrase_prob``."""
        embeddings = self.originals[task]
        if not self.paraphrase_prob:  # with a probability, __init__ made sure there are paraphrases
            return embeddings  # draws nothing: runs without paraphrases keep their random streams
        counts = self.counts[task]
        swap = (torch.rand(len(task), generator=generator) < self.paraphrase_prob) & (counts > 0)
        pick = (torch.rand(len(task), generator=generator) * counts.clamp_min(1)).long()
        chosen = self.alternatives[self.options[task, pick]]
        return torch.where(swap[:, None], chosen, embeddings)


def order_roles(texts: Sequence[str], embeddings: torch.Tensor, encoder: MiniLMEncoder,
                rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The order vectors' centre and the ``rank`` directions (orthonormal columns) that carry the roles.

    Those are the directions along which an order vector moves most when the two objects
    an instruction names trade places (``sim.language.swap_named``), over ``texts`` (every
    wording training draws) and their ``encoder`` ``embeddings``; a wording's other traits
    (which template, which verb) mostly lie elsewhere. ValueError if too few name two objects.
    """
    swapped = [swap_named(text) for text in texts]
    rows = [i for i, text in enumerate(swapped) if text]
    if len(rows) < rank:
        raise ValueError(f"order_rank {rank} needs at least {rank} instructions that name two objects; "
                         f"the training wordings have {len(rows)}")
    row_of = {text: i for i, text in enumerate(texts)}
    unseen = sorted({swapped[i] for i in rows} - row_of.keys())  # most swaps are wordings training draws too
    encoded = dict(zip(unseen, encoder.encode(unseen))) if unseen else {}
    swaps = torch.stack([embeddings[row_of[swapped[i]]] if swapped[i] in row_of else encoded[swapped[i]]
                         for i in rows])
    moves = embeddings[rows, EMBEDDING_DIM:] - swaps[:, EMBEDDING_DIM:]
    _, _, directions = torch.linalg.svd(moves.double(), full_matrices=False)
    return embeddings[:, EMBEDDING_DIM:].mean(dim=0), directions[:rank].T.float()
