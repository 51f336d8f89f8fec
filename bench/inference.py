"""Policy inference latency: ONNX Runtime (fp32; int8 where the card vouches for it) against PyTorch eager, and the
physical floor.

Each contender runs what a control step runs: the per-step network (``RobostralS.act``, the
bundle's ``policy.onnx``) on the cameras, the proprio and the instruction's condition, which the
instruction head computed once beforehand (its one-off time is reported apart).
Batch-1 calls of the same Robostral-S network, 2 threads each, interleaved in
rounds so that the machine's noise hits every contender alike; ONNX Runtime on the
one thread the policy node uses runs alongside for reference. The floor is the
network's FLOPs per call divided by this machine's fp32 matmul rate on the same
threads: no implementation can beat it. ONNX Runtime's own profile of the fp32
graph says where its time goes, and the same graph without its GroupNorms bounds
what a normalization folded into the convolutions could save. Writes its section
of BENCHMARKS.md.

    .venv/bin/python bench/inference.py [--bundle policies/robostral-s-panda] [--calls 1000]
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout, installed or not

from robostral.benchmarks.floor import sgemm_gflops  # noqa: E402
from robostral.benchmarks.publish import goal_lines, publish  # noqa: E402
from robostral.bundle.card import INSTRUCTION_FILE, read_card  # noqa: E402
from robostral.export.policy_graphs import write_policy_onnx  # noqa: E402
from robostral.language.runtime import session_options  # noqa: E402
from robostral.policies.robostral_s.modeling import FiLMBlock, RobostralS  # noqa: E402
from robostral.runtime.session import (  # noqa: E402
    WRIST_INPUT,
    policy_session,
    run_policy,
    step_feeds,
    step_inputs,
)
from robostral.training.bundle_weights import policy_from_bundle  # noqa: E402

THREADS = 2
NODE_THREADS = 1  # policy_node's `threads` parameter in launch/params
BARE = "ONNX Runtime fp32, GroupNorm removed (bound)"


def without_normalization(model: RobostralS) -> RobostralS:
    """A copy of ``model`` without its GroupNorms: no normalization folded into the convolutions at export
    (BatchNorm, say) could make the graph faster than this one. Its outputs mean nothing; only its time counts."""
    bare = copy.deepcopy(model)
    for block in bare.modules():
        if isinstance(block, FiLMBlock):
            block.norm = torch.nn.Identity()
    return bare


def time_calls(call, calls: int) -> list[float]:
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return times


def op_profile(path: Path, inputs: dict[str, np.ndarray], calls: int) -> dict[str, float]:
    """Microseconds per call that ONNX Runtime's profiler puts in each kind of operator, largest first."""
    import onnxruntime as ort

    options = session_options(THREADS)
    options.enable_profiling = True
    options.profile_file_prefix = str(Path("runs") / "ort-profile")
    Path("runs").mkdir(exist_ok=True)
    session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    for _ in range(calls):
        run_policy(session, inputs)
    trace = Path(session.end_profiling())
    spent: Counter[str] = Counter()
    for event in json.loads(trace.read_text()):
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            op = event["args"]["op_name"]
            spent["layout reorders" if op.startswith("Reorder") else op] += event["dur"]
    trace.unlink()
    return {op: total / calls for op, total in spent.most_common()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=Path("policies/robostral-s-panda"))
    parser.add_argument("--calls", type=int, default=1000, help="timed calls per contender")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds the calls are split into")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    torch.set_num_threads(THREADS)

    card = read_card(args.bundle)
    model = policy_from_bundle(args.bundle)  # the bundle's own weights in torch: no checkpoint needed
    c = model.config
    rng = np.random.default_rng(0)
    inputs = {
        "image": rng.integers(0, 256, (1, c.image_size, c.image_size, 3), dtype=np.uint8),
        "state": rng.normal(size=(1, c.state_dim)).astype(np.float32),
        "language": rng.normal(size=(1, c.language_dim)).astype(np.float32),
    }
    if c.wrist_camera:
        inputs[WRIST_INPUT] = rng.integers(0, 256, (1, c.image_size, c.image_size, 3), dtype=np.uint8)
    head = policy_session(args.bundle / INSTRUCTION_FILE, NODE_THREADS)
    head_ms = float(np.percentile(time_calls(lambda: step_feeds(head, inputs), 200)[20:], 50))
    inputs = step_feeds(head, inputs)  # the instruction's condition, as the runtime caches it
    tensors = tuple(torch.from_numpy(inputs[name]) for name in step_inputs(c.wrist_camera))
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.act(*tensors)
    flops = counter.get_total_flops()

    contenders = {"ONNX Runtime fp32": policy_session(args.bundle / "policy.onnx", THREADS)}
    if card.int8:  # what the runtime would load with int8=True; a bundle without one ships fp32 only
        contenders["ONNX Runtime int8"] = policy_session(args.bundle / card.int8["file"], THREADS)
    contenders[f"ONNX Runtime fp32, {NODE_THREADS} thread (policy node)"] = policy_session(
        args.bundle / "policy.onnx", NODE_THREADS)
    with tempfile.TemporaryDirectory() as scratch:
        bare = Path(scratch) / "policy.onnx"
        write_policy_onnx(without_normalization(model), inputs, bare)
        contenders[BARE] = policy_session(bare, THREADS)
    calls = {name: (lambda s=session: run_policy(s, inputs)) for name, session in contenders.items()}

    def eager():
        with torch.inference_mode():
            model.act(*tensors)

    calls["PyTorch eager fp32"] = eager
    for call in calls.values():  # warm-up
        time_calls(call, 50)
    times: dict[str, list[float]] = {name: [] for name in calls}
    per_round = max(1, args.calls // args.rounds)
    peak = 0.0
    for _ in range(args.rounds):
        for name, call in calls.items():
            times[name] += time_calls(call, per_round)
        # The machine's best matmul rate, measured in every round: a busy moment lowers one measurement, and a
        # floor from it alone would flatter every contender.
        peak = max(peak, sgemm_gflops(2048, repeats=2))
    floor_ms = flops / (peak * 1e9) * 1000
    profile = op_profile(args.bundle / "policy.onnx", inputs, per_round)
    profiled = sum(profile.values())

    eager_p50 = float(np.percentile(times["PyTorch eager fp32"], 50))
    rows = []
    for name, values in times.items():
        p50, p99 = float(np.percentile(values, 50)), float(np.percentile(values, 99))
        rows.append((name, len(values), p50, p99, eager_p50 / p50, p50 / floor_ms))
    fp32 = next(r for r in rows if r[0] == "ONNX Runtime fp32")
    bare = next(r for r in rows if r[0] == BARE)
    goals = [
        ("ORT fp32 at least 2x faster than eager (p50)", fp32[4] >= 2.0),
        ("ORT fp32 p50 under 3 ms", fp32[2] < 3.0),
        ("ORT fp32 p50 within 2x the floor", fp32[5] <= 2.0),
        ("ORT fp32 p99 under 3x its p50", fp32[3] < 3 * fp32[2]),
    ]
    table = [
        f"Bundle `{args.bundle}` ({model.num_trainable_parameters():,} trainable parameters), batch 1, "
        f"{THREADS} threads, {args.rounds} interleaved rounds. Every contender runs the per-step network on the "
        f"instruction's cached condition; the instruction head that makes it runs once per instruction "
        f"({INSTRUCTION_FILE}, p50 {head_ms:.3f} ms on {NODE_THREADS} thread).",
        "",
        f"- FLOPs per call: {flops / 1e6:.1f} MFLOP; fp32 sgemm peak (2048^3, {THREADS} threads, the best of every "
        f"round): {peak:.1f} GFLOP/s;"
        f" floor = {floor_ms:.3f} ms",
        "",
        "| contender | calls | p50 (ms) | p99 (ms) | speed-up vs eager (p50) | p50 / floor |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        *[f"| {n} | {k} | {p50:.3f} | {p99:.3f} | {s:.2f}x | {f:.1f}x |" for n, k, p50, p99, s, f in rows],
        "",
        *goal_lines(goals),
        "",
        f"The row \"{BARE}\" is the same graph without its normalization (its outputs mean nothing): no "
        f"normalization folded into the convolutions at export could run faster. It takes {bare[2] / fp32[2]:.0%} "
        f"of the fp32 time, {bare[5]:.1f}x the floor.",
        "",
        f"Where ONNX Runtime fp32 spends a call ({THREADS} threads, {per_round} calls under its profiler, which "
        f"adds its own cost to every operator: {profiled:.0f} us of kernels per call; the eight largest):",
        "",
        "| operator | us per call | share |",
        "| --- | ---: | ---: |",
        *[f"| {op} | {us:.1f} | {us / profiled:.0%} |" for op, us in list(profile.items())[:8]],
    ]
    text = "\n".join(table)
    publish("inference", ".venv/bin/python bench/inference.py", "Policy inference latency", text,
            write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
