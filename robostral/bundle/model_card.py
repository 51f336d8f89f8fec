"""``README.md`` of a policy bundle: a Hugging Face model card rendered from its ``card.yaml``.

The model card is generated, never written by hand, so it cannot drift from the card that the
runtime verifies: ``render_model_card(card)`` is a pure function of the ``Card``, and
``write_model_card(bundle)`` writes it next to ``card.yaml``. ``README.md`` is not listed in the
card's ``files`` (rewriting it leaves every hash and signature valid).

Besides the keys every bundle has (written by ``robostral export`` and ``robostral eval``), a card
may hold optional top-level keys, filled in by whoever trained the bundle; without them the
sections they feed say "not recorded" (and ``license``, the project's without it):

- ``lineage``: the stages that made the bundle, oldest first; each a mapping with ``stage``,
  ``name``, ``config``, ``commands`` (as run), ``steps``, ``wall_time_min``, ``change`` (what the
  stage did), ``in_line`` (false: tried, not an ancestor of this bundle), ``notes`` and
  ``measured``: a list of ``{command, against, results}``, each result ``{metric, before, after,
  episodes, unit, p, note}``. A rate (``unit`` ``rate``, the default) over ``episodes`` is shown
  with its 95% Wilson interval; ``p`` is kept as the text it was written as.
- ``recipe``: written by ``robostral export --recipe LOG``: the recipe file, each stage's ``name``,
  ``command``, ``device``, ``wall_s`` and ``cpu_s``, and their sums (``robostral.recipe.card_recipe``).
- ``failure_analysis``: a list of ``{bundle, command, finding}``: why episodes failed.
- ``limitations``: a list of sentences.

Regenerate one bundle's: ``python -m robostral.bundle.model_card policies/robostral-s-panda``.
This module imports neither torch nor onnx.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from robostral.bundle.card import CAMERA_INPUT, CARD_FILE, BundleError, Card, read_card
from robostral.bundle.gate import GATES, judge
from robostral.stats import wilson_interval

MODEL_CARD_FILE = "README.md"
LICENSE = "apache-2.0"  # the project's (setup.py); a card's own ``license`` overrides it
NOT_RECORDED = "Not recorded in this bundle's card."
GENERATED = "<!-- Generated from card.yaml by robostral.bundle.model_card: edit the card, not this file. -->"


def render_model_card(card: Card) -> str:
    """The model card of a bundle whose ``card.yaml`` is ``card``: YAML front matter, then Markdown."""
    sections = [
        _front_matter(card),
        GENERATED,
        f"# {card.name}",
        _summary(card),
        _model_details(card),
        _intended_use(card),
        _out_of_scope(card),
        _training_data(card),
        _training_procedure(card),
        _evaluation(card),
        _failure_analysis(card),
        _limitations(card),
        _reproduce(card),
        _files(card),
    ]
    return "\n\n".join(section.strip("\n") for section in sections if section) + "\n"


def write_model_card(bundle_dir: str | os.PathLike) -> Path:
    """Render the card of ``bundle_dir`` into its ``README.md`` (atomically); the path written."""
    path = Path(bundle_dir) / MODEL_CARD_FILE
    tmp = path.with_name(MODEL_CARD_FILE + ".tmp")
    tmp.write_text(render_model_card(read_card(bundle_dir)))
    os.replace(tmp, path)
    return path


# ---------------------------------------------------------------- helpers


def _pct(rate: Any) -> str:
    return "-" if rate is None else f"{100 * float(rate):.1f}%"


def _interval(low: Any, high: Any) -> str:
    return f"{100 * float(low):.1f}-{100 * float(high):.1f}%"


def _wilson(rate: float, episodes: int) -> tuple[float, float]:
    return wilson_interval(round(float(rate) * int(episodes)), int(episodes))


def _rate_with_interval(rate: Any, episodes: Any) -> str:
    """``90.0% (87.7-91.9%)``: a rate over ``episodes`` with its 95% Wilson interval (none without a count)."""
    if rate is None:
        return "-"
    if not episodes:
        return _pct(rate)
    return f"{_pct(rate)} ({_interval(*_wilson(rate, episodes))})"


def _yaml_scalar(value: Any) -> str:
    """A value as YAML writes it inline (``true``, ``[32, 64, 128]``), not as Python's repr."""
    return yaml.safe_dump(value, default_flow_style=True, width=1000).strip().removesuffix("...").strip()


def _code(text: Any) -> str:
    return f"`{' '.join(str(text).split())}`"


def _bullets(items: Iterable[str]) -> str:
    return "\n".join(f"- {item}" for item in items)


def _table(header: list[str], rows: list[list[Any]], align: list[str] | None = None) -> str:
    align = align or ["---"] * len(header)
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _env_id(task: str) -> str:
    """The Gymnasium id of a task, as ``sim`` registers it (``pick_place`` -> ``robostral/PickPlace-v0``)."""
    return f"robostral/{''.join(part.title() for part in task.split('_'))}-v0"


def _tasks(card: Card) -> dict[str, dict]:
    return dict((card.evaluation or {}).get("tasks") or {})


def _pooled(tasks: Mapping[str, Mapping[str, Any]]) -> tuple[int, int]:
    """Successes and episodes over every evaluated task (train phrasings)."""
    successes = sum(round(float(r["success_rate"]) * int(r["episodes"])) for r in tasks.values())
    return successes, sum(int(r["episodes"]) for r in tasks.values())


def _is_production(card: Card) -> bool:
    return card.gate_name == "production"


# ---------------------------------------------------------------- front matter


def _front_matter(card: Card) -> str:
    gate = card.gate_name
    tags = ["robotics", "vision-language-action", "onnx", "robostral", card.policy, card.robot,
            "simulation", "pybullet", f"{gate}-gate" if gate else None]
    front: dict[str, Any] = {
        "license": card.license or LICENSE,
        "library_name": "onnx",
        "tags": [tag for tag in tags if tag],
        "pipeline_tag": "robotics",
    }
    results = _model_index_results(card)
    if results:
        front["model-index"] = [{"name": card.name, "results": results}]
    return "---\n" + yaml.safe_dump(front, sort_keys=False, width=1000, allow_unicode=True) + "---"


def _model_index_results(card: Card) -> list[dict]:
    evaluation = card.evaluation or {}
    robot = evaluation.get("robot", card.robot)
    where = f"{robot}, domain randomization on, held-out seeds from {evaluation.get('seed', '?')}"
    results = []
    for task, result in _tasks(card).items():
        metrics = [{"type": "success_rate", "name": "success rate, training phrasings",
                    "value": round(100 * float(result["success_rate"]), 1)}]
        if result.get("ci_low") is not None:
            metrics.append({"type": "success_rate_ci_low", "name": "lower 95% Wilson bound",
                            "value": round(100 * float(result["ci_low"]), 1)})
        if result.get("heldout_success_rate") is not None:
            metrics.append({"type": "success_rate_heldout", "name": "success rate, held-out phrasings",
                            "value": round(100 * float(result["heldout_success_rate"]), 1)})
        if result.get("distractor_choice_rate") is not None:
            metrics.append({"type": "named_object_first", "name": "named object moved first",
                            "value": round(100 * float(result["distractor_choice_rate"]), 1)})
        results.append({
            "task": {"type": "robotics", "name": f"language-conditioned manipulation: {task}"},
            "dataset": {"type": _env_id(task), "name": f"{_env_id(task)} ({where})"},
            "metrics": metrics,
        })
    chains = evaluation.get("chains")
    if chains:
        results.append({
            "task": {"type": "robotics", "name": f"chains of {chains.get('length')} instructions"},
            "dataset": {"type": "robostral/chains", "name": f"instruction chains ({where})"},
            "metrics": [{"type": "average_completed", "name": "instructions completed per chain",
                         "value": chains.get("average_completed")}],
        })
    return results


# ---------------------------------------------------------------- sections


def _summary(card: Card) -> str:
    gate, policy, robot = card.gate_name or "no", card.policy, card.robot
    tasks = ", ".join(_tasks(card)) or "no evaluated task"
    return (
        f"A {policy} vision-language-action policy for the {robot}, exported by Robostral as a policy bundle: "
        f"ONNX graphs that take raw camera images, joint state and an instruction embedding and return a chunk "
        f"of absolute joint targets, with its instruction encoder, tokenizer and `card.yaml`. Trained and "
        f"evaluated in simulation only ({tasks}). It carries the **{gate}** gate."
    )


def _model_details(card: Card) -> str:
    parts = ["## Model details"]
    parameters = card.trainable_parameters
    facts = [
        f"**Architecture**: {card.policy}"
        + (f", {int(parameters):,} trainable parameters" if parameters is not None else ""),
        f"**Robot**: {card.robot}, joints {', '.join(card.joint_names) or '?'}",
        f"**Control**: {card.control_hz} Hz, chunks of {card.chunk_size} actions",
        "**Runtime**: ONNX Runtime (no torch at run time); the runtime verifies every file's sha256 against the card",
    ]
    encoder = card.encoder
    if encoder:
        facts.append(f"**Instruction encoder**: {encoder.get('model', '?')}, pooling `{encoder.get('pooling', '?')}`,"
                     f" in `{encoder.get('file', '?')}` with `{encoder.get('tokenizer', '?')}`")
    versions = card.export.get("versions") or {}
    if versions:
        facts.append("**Exported with**: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    parts.append(_bullets(facts))
    if card.network_settings:
        settings = ", ".join(f"`{k}: {_yaml_scalar(v)}`" for k, v in card.network_settings.items())
        parts.append(f"Network settings: {settings}.")
    rows = []
    for kind, block in (("input", card.inputs), ("output", card.outputs)):
        for name, spec in block.items():
            spec = dict(spec or {})
            shape = " x ".join(str(s) for s in spec.pop("shape", []) or [])
            dtype = spec.pop("dtype", "?")
            notes = [f"{k}: {v}" for k, v in spec.items() if k != CAMERA_INPUT]
            if name in card.cameras and spec.get(CAMERA_INPUT) is not None:  # older cards: rendered at input size
                side = card.inputs[name]["shape"][1]
                notes.append(f"rendered as a {card.camera_input(name).describe()}, area-resized to {side}x{side}")
            rows.append([kind, f"`{name}`", dtype, shape, "; ".join(notes)])
    if card.instruction_head:
        head = card.instruction_head
        shape = " x ".join(str(s) for s in head["shape"])
        rows.append(["instruction head", f"`{head['output']}`", head.get("dtype", "float32"), shape,
                     f"`{head['file']}` of `{head['input']}`, once per instruction; `policy.onnx` takes it"])
    if rows:
        parts.append(_table(["", "name", "dtype", "shape", "notes"], rows))
    parity, latency = card.export.get("parity") or {}, card.export.get("latency_batch1") or {}
    lines = []
    if parity:
        lines.append(f"ONNX against torch on {parity.get('frames', '?')} dataset frames: max abs difference "
                     f"{float(parity.get('max_abs', 0)):.2g} (tolerance {parity.get('tolerance', '?')})")
    int8 = card.int8
    if int8:
        lines.append(f"int8 variant `{int8['file']}`, vouched for at export: max abs difference "
                     f"{float(int8['max_abs']):.2g} against fp32 (bound {int8['bound']}), "
                     f"{float(int8['speedup']):.2f}x the fp32 speed at batch 1 (at least {int8['min_speedup']}x)")
    for variant, stats in latency.items():
        lines.append(f"batch-1 latency of a control step at export, {variant.replace('_ms', '')}: "
                     f"p50 {float(stats['p50']):.2f} ms, p99 {float(stats['p99']):.2f} ms")
    upgrade = card.export.get("upgrade")
    if upgrade:
        lines.append(f"upgraded from {upgrade['from_format']} (one graph, `policy.onnx` sha256 "
                     f"`{upgrade['from_policy_sha256'][:16]}...`) by `{upgrade['command']}`: the split graphs predict "
                     f"what it did within {float(upgrade['max_abs_vs_previous_graph']):.2g} on {upgrade['frames']} "
                     "random observations, so what was measured of it holds for them")
    if lines:
        parts.append(_bullets(lines))
    return "\n\n".join(parts)


def _intended_use(card: Card) -> str:
    robot = card.robot
    return "\n\n".join([
        "## Intended use",
        _bullets([
            f"Driving the {robot} in Robostral's simulated cell: `robostral up --sim --policy <this folder>`, "
            "then an instruction from `robostral instruct`, the teach pendant or `/robostral/instruction`.",
            "Development and demonstrations of the ROS 2 graph, where every command goes through the safety "
            "supervisor.",
            "A starting point for fine-tuning on your own demonstrations: `robostral train --init-from <this folder>` "
            "reads the weights back from `policy.onnx`.",
            "Simulation sweeps and evaluations that compare it with other bundles (`robostral sweep`, "
            "`robostral eval`, `robostral compare`).",
        ]),
    ])


def _out_of_scope(card: Card) -> str:
    gate = card.gate or {}
    items = ["**A real arm without its own evaluation.** Every figure here was measured in the PyBullet simulator; "
             "no evaluation on a real arm is recorded in the card."]
    if _is_production(card):
        items.append("It passed the production gate (every task's lower 95% Wilson bound at least "
                     f"{gate.get('min')}), in simulation: a real cell still needs its own acceptance tests.")
    else:
        production = GATES["production"]
        lows = [(float(r["ci_low"]), task) for task, r in _tasks(card).items() if r.get("ci_low") is not None]
        lowest = f" (this bundle's lowest is {_pct(min(lows)[0])}, {min(lows)[1]})" if lows else ""
        if gate:
            rule = (f"{gate.get('metric')} at least {gate.get('min')} on every task"
                    + (f", {gate['mean_min']} on average" if "mean_min" in gate else "")
                    + f", over at least {gate.get('min_episodes')} episodes each")
            what = f"the **{gate.get('name')}** gate ({rule})"
        else:
            what = "no gate"
        items.append(
            f"**A cell that runs unattended.** The bundle carries {what}, not the production gate, which wants "
            f"every task's lower 95% Wilson bound at least {production['min']:.2f}{lowest}. The policy node warns "
            "when it loads a bundle that is not production-gated.")
    items += [
        "**A safety function.** The policy's targets are checked by the safety supervisor; neither the policy nor "
        "the software e-stop is a safety-rated function. A real cell keeps its hardwired e-stop.",
        f"**Another robot, camera placement or task** than the {card.robot} and the tasks evaluated "
        "below: the network reads images from the cameras it was trained with.",
    ]
    return "## Out-of-scope use\n\n" + _bullets(items)


def _training_data(card: Card) -> str:
    training = card.training
    if not training:
        return "## Training data\n\n" + NOT_RECORDED
    lines = [
        f"Dataset `{training.get('dataset', '?')}` (LeRobotDataset v3.0 layout): "
        f"{int(training.get('dataset_episodes', 0)):,} episodes, {int(training.get('dataset_frames', 0)):,} frames, "
        f"sha256 `{training.get('dataset_hash', '?')}`.",
    ]
    stages = [stage for stage in card.lineage or [] if stage.get("data")]
    if stages:
        lines.append("Data of each stage (see Training procedure):")
        lines.append(_bullets(f"{_stage_label(stage)}: {stage['data']}" for stage in stages))
    return "## Training data\n\n" + "\n\n".join(lines)


def _training_procedure(card: Card) -> str:
    training = card.training
    parts = ["## Training procedure"]
    if training:
        line = (f"Last stage: {_code(training.get('command', '?'))}, {int(training.get('steps', 0)):,} steps of batch "
                f"{training.get('batch_size', '?')} on {training.get('device', '?')} in "
                f"{float(training.get('wall_time_s', 0)) / 60:.0f} min")
        start = training.get("initialized_from")
        if start:
            line += (f", started from `{start.get('bundle') or start.get('checkpoint')}` "
                     f"({int(start.get('steps', 0)):,} steps by {_code(start.get('command', '?'))})")
        parts.append(line + ".")
    if card.recipe:
        parts.append(_recipe(card.recipe))
    lineage = card.lineage or []
    if not lineage:
        if not card.recipe:
            parts.append("Stage lineage: " + NOT_RECORDED)
        return "\n\n".join(parts)
    line = [stage for stage in lineage if stage.get("in_line", True)]
    tried = [stage for stage in lineage if not stage.get("in_line", True)]
    rows = [[stage.get("stage", ""), stage.get("name", ""), f"`{stage.get('config', '-')}`",
             f"{int(stage['steps']):,}" if stage.get("steps") is not None else "-",
             f"{stage['wall_time_min']}" if stage.get("wall_time_min") is not None else "-"] for stage in line]
    parts.append("### Lineage\n\nThe stages this bundle grew through, oldest first; each started from the one "
                 "before it.")
    parts.append(_table(["stage", "what", "config", "steps", "min"], rows, ["---:", "---", "---", "---:", "---:"]))
    parts += [_stage(stage) for stage in line]
    if tried:
        parts.append("### Tried, not in this bundle's line\n\nMeasured on the way and not kept, so that nobody "
                     "repeats them unknowingly.")
        parts += [_stage(stage) for stage in tried]
    return "\n\n".join(parts)


def _recipe(recipe: Mapping[str, Any]) -> str:
    """The recipe that rebuilds the bundle: its command, then each stage's command and time, and the sums."""
    rows = [[stage["name"], _code("robostral " + stage["command"]), stage["device"], f"{stage['wall_s'] / 60:.1f}",
             f"{stage['cpu_s'] / 60:.1f}"] for stage in recipe["stages"]]
    return "\n\n".join([
        f"### Recipe\n\nRebuilt from a fresh clone by {_code('robostral recipe run ' + recipe['file'])}, "
        f"{float(recipe['cpu_s']) / 3600:.1f} CPU hours in all ({float(recipe['wall_s']) / 3600:.1f} hours wall), "
        "up to this export:",
        _table(["stage", "command", "device", "wall min", "CPU min"], rows, ["---", "---", "---", "---:", "---:"]),
    ])


def _stage_label(stage: Mapping[str, Any]) -> str:
    """``stage 4`` for a numbered stage, else its name."""
    return f"stage {stage['stage']}" if stage.get("stage") is not None else str(stage.get("name", "a stage"))


def _stage(stage: Mapping[str, Any]) -> str:
    title = f"Stage {stage['stage']}: {stage.get('name', '')}" if stage.get("stage") is not None \
        else str(stage.get("name", ""))
    parts = [f"#### {title[:1].upper()}{title[1:]}"]
    if stage.get("change"):
        parts.append(str(stage["change"]).strip())
    if stage.get("config"):
        parts.append(f"Config: `{stage['config']}`.")
    for block in stage.get("measured") or []:
        head = (f"Measured by {_code(block['command'])}" if block.get("command")
                else f"Measured by {block.get('source', 'a command')} (its exact command is not recorded)")
        if block.get("against"):
            head += f", against {block['against']}"
        parts.append(head + ":\n\n" + _bullets(_result(result) for result in block.get("results") or []))
    if not stage.get("measured"):
        parts.append("Measured change: not recorded.")
    if stage.get("notes"):
        parts.append(_bullets(str(note).strip() for note in stage["notes"]))
    return "\n\n".join(parts)


def _result(result: Mapping[str, Any]) -> str:
    """One measured figure: ``metric: before -> after`` with 95% Wilson intervals for rates, and its p-value."""
    unit, episodes = result.get("unit", "rate"), result.get("episodes")

    def value(x: Any) -> str:
        if unit == "rate":
            return _rate_with_interval(x, episodes)
        return f"{x} {unit}" if unit not in ("", "count") else f"{x}"

    text = str(result.get("metric", "?"))
    if result.get("after") is not None:
        text += ": " + (f"{value(result['before'])} -> " if result.get("before") is not None else "")
        text += value(result["after"])
    extra = []
    if episodes:
        extra.append(f"{episodes} episodes")
    elif unit == "rate" and result.get("after") is not None:
        extra.append("episodes not recorded, so no interval")
    if result.get("p") is not None:
        extra.append(f"p = {result['p']}")
    if result.get("note"):
        extra.append(str(result["note"]).strip())
    return text + (f" ({'; '.join(extra)})" if extra else "")


def _evaluation(card: Card) -> str:
    tasks, evaluation = _tasks(card), card.evaluation or {}
    if not tasks:
        return "## Evaluation\n\n" + NOT_RECORDED + " Run `robostral eval --policy <this folder>`."
    parts = ["## Evaluation",
             f"{_code(evaluation.get('command', '?'))} ({evaluation.get('runtime', '?')}, robot "
             f"{evaluation.get('robot', '?')}, domain randomization on, seeds from {evaluation.get('seed', '?')}, "
             "none of them used for training). Intervals are 95% Wilson score intervals."]
    rows = [[task, r.get("episodes", "-"),
             f"{_pct(r['success_rate'])} ({_interval(r['ci_low'], r['ci_high'])})"
             if r.get("ci_low") is not None else _pct(r.get("success_rate")),
             _pct(r.get("heldout_success_rate")), _pct(r.get("distractor_choice_rate")), r.get("mean_length", "-")]
            for task, r in tasks.items()]
    parts.append(_table(["task", "episodes", "success (95% CI)", "held-out phrasings", "named object first",
                         "mean length (steps)"], rows, ["---", "---:", "---", "---:", "---:", "---:"]))
    successes, episodes = _pooled(tasks)
    lines = [f"Mean over the tasks: {_pct(evaluation.get('mean_success_rate', successes / episodes))}; pooled, "
             f"{successes} of {episodes} episodes ({_interval(*wilson_interval(successes, episodes))})."]
    heldout = [r["heldout_success_rate"] for r in tasks.values() if r.get("heldout_success_rate") is not None]
    if heldout:
        lines.append(f"Held-out phrasings, mean over the tasks: {_pct(sum(heldout) / len(heldout))}.")
    chains = evaluation.get("chains")
    if chains:
        lines.append(f"Chains of {chains.get('length')} instructions: {chains.get('average_completed')} completed on "
                     f"average over {chains.get('episodes')} chains.")
    links = evaluation.get("chain_links")
    if links:
        lines.append("Each link of a chain alone, the scripted expert doing the ones before it: "
                     + ", ".join(f"link {k} {_pct(v)}" for k, v in links.items()) + ".")
    verdict = judge(card)
    lines.append(f"Gate: **{card.gate_name or 'no'}**, {'passed' if verdict.passed else 'not passed'} "
                 f"({'; '.join(verdict.reasons)}).")
    parts.append(_bullets(lines))
    return "\n\n".join(parts)


def _failure_analysis(card: Card) -> str:
    findings = card.failure_analysis or []
    if not findings:
        return "## Failure analysis\n\n" + NOT_RECORDED + (
            " `robostral eval` gives every failed episode its reason (report.json, report.md).")
    items = []
    for finding in findings:
        where = []
        if finding.get("bundle"):
            where.append(str(finding["bundle"]))
        if finding.get("command"):
            where.append(f"measured by {_code(finding['command'])}")
        items.append(str(finding.get("finding", "")).strip() + (f" ({'; '.join(where)})" if where else ""))
    return "## Failure analysis\n\n" + _bullets(items)


def _limitations(card: Card) -> str:
    limitations = card.limitations or []
    return "## Limitations\n\n" + (_bullets(str(item).strip() for item in limitations) if limitations
                                   else NOT_RECORDED)


def _reproduce(card: Card) -> str:
    parts = ["## How to reproduce",
             "From a fresh clone, after `make setup` and with `.venv/bin` on the `PATH`, from the repository root; "
             "each command as it was run."]
    stages = [stage for stage in card.lineage or [] if stage.get("in_line", True) and stage.get("commands")]
    if stages:
        for stage in stages:
            parts.append(f"Stage {stage.get('stage')} ({stage.get('name', '')}):")
            parts.append("```bash\n" + "\n".join(" ".join(str(c).split()) for c in stage["commands"]) + "\n```")
        return "\n\n".join(parts)
    commands = [block.get("command") for block in (card.training, card.export, card.evaluation)
                if block and block.get("command")]
    if not commands:
        return "## How to reproduce\n\n" + NOT_RECORDED
    parts.append("The stages before the last are not recorded in the card; the last one:")
    parts.append("```bash\n" + "\n".join(" ".join(str(c).split()) for c in commands) + "\n```")
    return "\n\n".join(parts)


def _files(card: Card) -> str:
    files = card.files
    if not files:
        return "## Files\n\n" + NOT_RECORDED
    rows = [[f"`{name}`", f"`{digest}`"] for name, digest in files.items()]
    notes = [f"`{CARD_FILE}` lists these hashes; a runtime refuses the bundle when any file differs. This "
             f"`{MODEL_CARD_FILE}` is generated from it and not listed."]
    encoder = card.encoder.get("file")
    if encoder:
        notes.append(f"`{encoder}` is exported deterministically: `python -m robostral.language.export <this folder>` "
                     "writes it bit-identical where it is missing.")
    return "## Files\n\n" + _table(["file", "sha256"], rows) + "\n\n" + " ".join(notes)


def main(argv: list[str] | None = None) -> int:
    """``python -m robostral.bundle.model_card BUNDLE...``: (re)write each bundle's README.md."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print("usage: python -m robostral.bundle.model_card BUNDLE [BUNDLE ...]\n\n" + __doc__.split("\n\n")[0])
        return 0 if args else 2
    for bundle in args:
        try:
            print(write_model_card(bundle))
        except BundleError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
