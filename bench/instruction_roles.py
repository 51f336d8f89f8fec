"""Which object does an instruction name first? What a linear read-out of each pooling gets right on held-out wordings.

In push, pick_place and stack the first colour named is the object to move and the
second is where it goes (``sim.language``). The policy reads the instruction through
linear layers (FiLM, ``language_hidden: 0``), so a linear probe bounds what it can
take from the embedding alone. For each task, a softmax probe per role (6 colours
each) is fit on the embeddings of every ``train`` wording and paraphrase over all
ordered colour pairs, then asked about every ``heldout`` wording, which it never
saw. Per pooling (``robostral.language.POOLINGS``) the table gives the share of
held-out instructions with both roles right, and the share with the two swapped:
the "another object first" failure of evaluation. The ``mean`` embedding is the
first half of ``mean+order``'s, so one encoding serves both. A third reading is what a
network with ``order_rank`` K takes: the mean and the order vector's K coordinates along
the directions in which swapping the two named objects moves it
(``training.instructions.order_roles``, from the train wordings of all three tasks).

    .venv/bin/python bench/instruction_roles.py [--colours 6] [--order-rank 8] [--no-write]
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout, installed or not

from robostral.benchmarks.publish import update_section  # noqa: E402
from robostral.language import EMBEDDING_DIM, POOLINGS  # noqa: E402
from robostral.language.minilm import MiniLMEncoder  # noqa: E402
from robostral.training.instructions import order_roles  # noqa: E402
from sim.language import COLORS, paraphrases, phrasings  # noqa: E402

COMMAND = ".venv/bin/python bench/instruction_roles.py"
TASKS = ("push", "pick_place", "stack")  # the tasks that name two objects
SPLITS = ("train", "heldout")
PROBE_STEPS = 1500


def instructions(task: str, split: str, colours: list[str]) -> tuple[list[str], torch.Tensor]:
    """Every wording of ``split`` (train: with its paraphrases) over all ordered colour pairs; roles (N, 2)."""
    texts, roles = [], []
    for a, b in itertools.permutations(range(len(colours)), 2):
        wordings = phrasings(task, split, colours[a], colours[b])
        if split == "train":
            wordings += [p for w in wordings for p in paraphrases(w)]
        texts += wordings
        roles += [(a, b)] * len(wordings)
    return texts, torch.tensor(roles)


def fit_probe(features: torch.Tensor, roles: torch.Tensor, colours: int) -> torch.nn.Linear:
    """A linear map to two softmax heads (first-named colour, second-named colour), fit by full-batch Adam."""
    torch.manual_seed(0)
    probe = torch.nn.Linear(features.shape[1], 2 * colours)
    optimizer = torch.optim.Adam(probe.parameters(), lr=0.01)
    for _ in range(PROBE_STEPS):
        logits = probe(features).view(-1, colours)
        loss = F.cross_entropy(logits, roles.reshape(-1)) + 1e-4 * probe.weight.square().sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return probe


def measure(colours: list[str], order_rank: int) -> list[dict]:
    """Per task and reading: held-out instructions, both roles right and roles swapped (shares)."""
    encoder = MiniLMEncoder.from_package("mean+order")
    data = {}  # task -> [(texts, roles, embeddings) of train, of heldout]
    for task in TASKS:
        data[task] = []
        for split in SPLITS:
            texts, roles = instructions(task, split, colours)
            data[task].append((texts, roles, encoder.encode(texts)))
    train_texts = [text for task in TASKS for text in data[task][0][0]]
    center, basis = order_roles(train_texts, torch.cat([data[task][0][2] for task in TASKS]), encoder, order_rank)

    def roles_reading(embeddings: torch.Tensor) -> torch.Tensor:  # what a network with order_rank reads
        return torch.cat([embeddings[:, :EMBEDDING_DIM], (embeddings[:, EMBEDDING_DIM:] - center) @ basis], dim=1)

    readings = {pooling: lambda e, width=width: e[:, :width] for pooling, width in POOLINGS.items()}
    readings[f"mean+order, order_rank {order_rank}"] = roles_reading
    rows = []
    for task in TASKS:
        (train_texts, train_roles, train_all), (test_texts, test_roles, test_all) = data[task]
        for name, read in readings.items():
            train_features, test_features = read(train_all), read(test_all)
            mean, scale = train_features.mean(0), train_features.std(0).clamp(min=1e-6)
            probe = fit_probe((train_features - mean) / scale, train_roles, len(colours))
            with torch.no_grad():
                got = probe((test_features - mean) / scale).view(-1, 2, len(colours)).argmax(-1)
            rows.append({
                "task": task, "pooling": name, "train": len(train_texts), "heldout": len(test_texts),
                "right": (got == test_roles).all(1).float().mean().item(),
                "swapped": (got == test_roles.flip(1)).all(1).float().mean().item(),
            })
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| task | pooling | train wordings | held-out wordings | both roles right | roles swapped |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['task']} | {r['pooling']} | {r['train']} | {r['heldout']} | {r['right']:.1%} "
                     f"| {r['swapped']:.1%} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--colours", type=int, default=len(COLORS), help="how many of sim.language's colours to use")
    parser.add_argument("--order-rank", type=int, default=8, help="role directions kept of the order vector")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    if not 2 <= args.colours <= len(COLORS):
        parser.error(f"--colours must be within 2..{len(COLORS)}, got {args.colours}")
    torch.set_num_threads(1)
    body = table(measure(list(COLORS)[: args.colours], args.order_rank))
    print(body, flush=True)
    if not args.no_write:
        command = " ".join([COMMAND, *(argv if argv is not None else sys.argv[1:])])
        heading = (
            "### Instruction roles: what the embedding tells apart\n\n"
            f"A linear probe per role, fit on the train wordings and paraphrases ({EMBEDDING_DIM}-float MiniLM "
            "token states pooled as named; with `order_rank`, the mean and the order vector's coordinates along "
            "the directions a swap of the named objects moves it, as the network reads them), read on the "
            "held-out wordings it never saw. This bounds what the policy's linear language layers can read; what "
            "fine-tunes did with it is in policies/robostral-s-panda/README.md (stages six to eight).\n\n"
        )
        update_section("instruction_roles", command, heading + body)
        print("wrote BENCHMARKS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
