"""`robostral policies` as a site runs it: keys, signatures, verification, promotion behind the gate, the listing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import copy_bundle

from robostral.bundle.card import read_card, sha256_file, write_card
from robostral.bundle.model_card import write_model_card
from robostral.bundle.promote import PromotionRefused, promote
from robostral.bundle.verify import TRUSTED_KEYS_ENV
from robostral.cli import main

ROOT = Path(__file__).resolve().parent.parent


def robostral(*args, env: dict | None = None, code: str | None = None) -> subprocess.CompletedProcess:
    """The CLI in a fresh process (``code`` replaces ``-m robostral.cli`` to set the process up first)."""
    start = ["-c", code] if code else ["-m", "robostral.cli"]
    return subprocess.run(
        [sys.executable, *start, *map(str, args)],
        cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=120,
    )


def flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-64] ^= 0xFF
    path.write_bytes(data)


def evaluated(pipeline, target: Path, episodes: int = 200, **ci_low: float) -> Path:
    """A copy of the bundle whose card carries evaluation results with the given lower Wilson bounds."""
    bundle = copy_bundle(pipeline.bundle, target)
    card = read_card(bundle)
    card.evaluation = {
        "tasks": {
            task: {"success_rate": low + 0.03, "ci_low": low, "ci_high": min(1.0, low + 0.05), "episodes": episodes}
            for task, low in ci_low.items()
        }
    }
    write_card(bundle, card)
    write_model_card(bundle)  # as `robostral eval` does when it records its results
    return bundle


def contents(folder: Path) -> dict[str, str]:
    return {p.name: sha256_file(p) for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def site_keys(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("site-keys")
    result = robostral("policies", "keygen", "--private", root / "site.pem", "--public", root / "site.pub")
    assert result.returncode == 0, result.stderr
    assert (root / "site.pem").stat().st_mode & 0o777 == 0o600
    assert main(["policies", "keygen", "--private", str(root / "other.pem"), "--public", str(root / "other.pub")]) == 0
    return {name: root / name for name in ("site.pem", "site.pub", "other.pem", "other.pub")}


def test_keygen_refuses_to_overwrite_a_key(site_keys):
    before = site_keys["site.pem"].read_bytes()
    result = robostral("policies", "keygen", "--private", site_keys["site.pem"], "--public", site_keys["site.pub"])
    assert result.returncode == 2 and "exists; refusing to overwrite a key" in result.stderr
    assert site_keys["site.pem"].read_bytes() == before


def test_sign_and_verify_round_trip(pipeline, site_keys, tmp_path):
    bundle = copy_bundle(pipeline.bundle, tmp_path / "bundle")
    site, other = ["--trusted-key", site_keys["site.pub"]], ["--trusted-key", site_keys["other.pub"]]

    result = robostral("policies", "verify", bundle)
    assert result.returncode == 0 and "5 files match their sha256; signature not checked" in result.stdout
    result = robostral("policies", "verify", bundle, *site)
    assert result.returncode == 1 and "unsigned (no card.sig)" in result.stderr

    result = robostral("policies", "sign", bundle, "--key", site_keys["site.pem"])
    assert result.returncode == 0, result.stderr
    assert len((bundle / "card.sig").read_bytes()) == 64  # an Ed25519 signature

    result = robostral("policies", "verify", bundle, *site)
    assert result.returncode == 0 and "signed by a trusted key" in result.stdout
    result = robostral("policies", "verify", bundle, *other)
    assert result.returncode == 1 and "does not match any trusted key" in result.stderr
    result = robostral("policies", "verify", bundle, env={TRUSTED_KEYS_ENV: str(site_keys["other.pub"])})
    assert result.returncode == 1 and "does not match any trusted key" in result.stderr

    flip_byte(bundle / "policy.onnx")  # the signature still matches the card; the file no longer matches it
    result = robostral("policies", "verify", bundle, env={TRUSTED_KEYS_ENV: str(site_keys["site.pub"])})
    assert result.returncode == 1 and "policy.onnx has sha256" in result.stderr


def test_sign_refuses_a_bundle_that_does_not_verify(pipeline, site_keys, tmp_path, capsys):
    bundle = copy_bundle(pipeline.bundle, tmp_path / "bundle")
    (bundle / "tokenizer.json").unlink()
    assert main(["policies", "sign", str(bundle), "--key", str(site_keys["site.pem"])]) == 2
    assert "tokenizer.json is missing" in capsys.readouterr().err
    assert not (bundle / "card.sig").exists()


def test_promote_refuses_a_bundle_that_was_never_evaluated(pipeline, tmp_path):
    policies = tmp_path / "policies"
    result = robostral("policies", "promote", pipeline.bundle, "--name", "fresh", "--policies-dir", policies)
    assert result.returncode == 1
    assert "not promoted" in result.stderr and "no evaluation results: run `robostral eval` first" in result.stderr
    assert not policies.exists()


def test_promote_copies_a_bundle_that_passes_its_gate(pipeline, site_keys, tmp_path):
    bundle = evaluated(pipeline, tmp_path / "bundle", reach=0.97, pick_place=0.93)
    policies = tmp_path / "policies"
    result = robostral("policies", "promote", bundle, "--name", "robostral-s-test", "--policies-dir", policies)
    assert result.returncode == 0, result.stderr
    assert f"promoted {bundle} to {policies / 'robostral-s-test'}" in result.stdout
    assert contents(policies / "robostral-s-test") == contents(bundle)
    assert sorted(p.name for p in policies.iterdir()) == ["robostral-s-test"]  # no staging folder left

    again = ["policies", "promote", str(bundle), "--policies-dir", str(policies), "--name"]
    assert main([*again, "robostral-s-test"]) == 1
    assert main([*again, "robostral-s-test", "--replace"]) == 0

    # Signed at this site and promoted where the key is trusted: the signature travels with the bundle.
    assert main(["policies", "sign", str(bundle), "--key", str(site_keys["site.pem"])]) == 0
    assert main([*again, "signed", "--trusted-key", str(site_keys["site.pub"])]) == 0
    assert contents(policies / "signed") == contents(bundle) and (policies / "signed" / "card.sig").is_file()


def test_promote_names_the_task_that_misses_the_gate(pipeline, tmp_path):
    bundle = evaluated(pipeline, tmp_path / "bundle", reach=0.97, pick_place=0.80)
    policies = tmp_path / "policies"
    result = robostral("policies", "promote", bundle, "--name", "weak", "--policies-dir", policies)
    assert result.returncode == 1
    assert "pick_place: ci_low 0.800 < 0.90 over 200 episodes - FAIL" in result.stderr
    assert "reach: ci_low 0.970 >= 0.90 over 200 episodes - pass" in result.stderr
    assert not policies.exists()

    few = evaluated(pipeline, tmp_path / "few", episodes=50, reach=0.97, pick_place=0.95)
    with pytest.raises(PromotionRefused) as refusal:
        promote(few, "few", policies)
    assert "reach: ci_low 0.970 >= 0.90 over 50 episodes (fewer than the 100 required) - FAIL" in refusal.value.reasons
    assert not policies.exists()


def test_the_preview_gate_wants_every_task_done_sometimes_and_a_quarter_on_average(pipeline, tmp_path):
    from robostral.bundle.gate import GATES, judge

    def preview(name: str, **ci_low: float) -> Path:
        bundle = evaluated(pipeline, tmp_path / name, **ci_low)  # success_rate = ci_low + 0.03
        card = read_card(bundle)
        card.gate = GATES["preview"]
        write_card(bundle, card)
        return bundle

    policies = tmp_path / "policies"
    weak = preview("weak", reach=0.5, push=0.1, pick_place=0.0)  # pick_place at 3%: never really done
    verdict = judge(read_card(weak))
    assert not verdict.passed and "pick_place: success_rate 0.030 < 0.05 over 200 episodes - FAIL" in verdict.reasons
    thin = preview("thin", reach=0.3, push=0.1, pick_place=0.05)  # mean success 0.18
    assert "mean success_rate over the tasks 0.180 < 0.25 - FAIL" in judge(read_card(thin)).reasons
    promote(preview("fair", reach=0.85, push=0.3, pick_place=0.1), "fair", policies)
    result = robostral("policies", "list", "--policies-dir", policies)
    assert result.stdout.splitlines()[1].split()[3:5] == ["pass", "(preview)"]


@pytest.mark.parametrize(("stack", "passed"), [(0.75, True), (0.745, False)])
def test_a_mean_on_its_floor_meets_it_despite_float_rounding(stack, passed):
    from robostral.bundle.gate import judge_evaluation

    rates = {"reach": 0.995, "push": 0.885, "pick_place": 0.97, "stack": stack}  # 90% of 800 episodes, or 719
    gate = {"name": "test", "metric": "success_rate", "min": 0.05, "mean_min": 0.90, "min_episodes": 100}
    evaluation = {"tasks": {t: {"success_rate": r, "episodes": 200} for t, r in rates.items()}}
    if passed:
        assert sum(rates.values()) / 4 < 0.90  # the float mean: a plain comparison would refuse it
    verdict = judge_evaluation(gate, evaluation)
    assert verdict.passed == passed
    assert f"mean success_rate over the tasks {sum(rates.values()) / 4:.3f} {'>=' if passed else '<'} 0.90" \
        in verdict.reasons[-1]


def test_promote_refuses_tampered_and_foreign_bundles(pipeline, site_keys, tmp_path):
    policies = tmp_path / "policies"
    tampered = evaluated(pipeline, tmp_path / "tampered", reach=0.97, pick_place=0.95)
    flip_byte(tampered / "policy.onnx")
    with pytest.raises(PromotionRefused, match=r"does not verify: .*policy.onnx has sha256"):
        promote(tampered, "tampered", policies)

    foreign = evaluated(pipeline, tmp_path / "foreign", reach=0.97, pick_place=0.95)
    assert main(["policies", "sign", str(foreign), "--key", str(site_keys["other.pem"])]) == 0
    with pytest.raises(PromotionRefused, match="does not match any trusted key"):
        promote(foreign, "foreign", policies, trusted_keys=[site_keys["site.pub"]])
    with pytest.raises(ValueError, match="policy name '../escape'"):
        promote(foreign, "../escape", policies)
    assert not policies.exists()


# A copy that fails half-way, as on a full disk: no file over 20 MB may be written, so encoder.onnx (90 MB) cannot.
FULL_DISK = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing us
resource.setrlimit(resource.RLIMIT_FSIZE, (20_000_000, 20_000_000))
from robostral.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_failed_copy_leaves_policies_as_they_were(pipeline, tmp_path):
    bundle = evaluated(pipeline, tmp_path / "bundle", reach=0.97, pick_place=0.95)
    policies = tmp_path / "policies"
    args = ("policies", "promote", bundle, "--policies-dir", policies)

    result = robostral(*args, "--name", "new", code=FULL_DISK)
    assert result.returncode == 1 and "copying into" in result.stderr and "File too large" in result.stderr
    assert list(policies.iterdir()) == []

    promote(bundle, "current", policies)
    before = contents(policies / "current")
    result = robostral(*args, "--name", "current", "--replace", code=FULL_DISK)
    assert result.returncode == 1 and "copying into" in result.stderr
    assert sorted(p.name for p in policies.iterdir()) == ["current"]
    assert contents(policies / "current") == before


def test_list_shows_robot_figures_gate_and_verification(pipeline, site_keys, tmp_path, capsys):
    policies = tmp_path / "policies"
    assert main(["policies", "list", "--policies-dir", str(policies)]) == 2
    assert "no policies folder at" in capsys.readouterr().err
    policies.mkdir()
    assert main(["policies", "list", "--policies-dir", str(policies)]) == 0
    assert "no policy bundles in" in capsys.readouterr().out

    alpha = evaluated(pipeline, tmp_path / "a", reach=0.97, pick_place=0.93)
    card = read_card(alpha)
    card.evaluation.update(mean_success_rate=0.95, chains={"episodes": 20, "length": 5, "average_completed": 4.35})
    write_card(alpha, card)
    promote(alpha, "alpha", policies)
    promote(evaluated(pipeline, tmp_path / "b", reach=0.91, pick_place=0.95), "beta", policies)
    flip_byte(policies / "beta" / "policy.onnx")  # corrupted after it was promoted
    (policies / ".gamma.tmp").mkdir()  # an interrupted promotion's staging folder is not a policy

    result = robostral("policies", "list", "--policies-dir", policies)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["NAME", "ROBOT", "VERIFIES", "GATE"]
    assert lines[1].split()[:4] == ["alpha", "panda", "yes", "pass"]
    figures = "mean 0.95, pick_place 0.96 (0.93..0.98, n=200), reach 1.00 (0.97..1.00, n=200), chains 4.35/5"
    assert lines[1].endswith(f"  {figures}")
    assert lines[2].endswith("  pick_place 0.98 (0.95..1.00, n=200), reach 0.94 (0.91..0.96, n=200)")
    assert lines[2].split()[:4] == ["beta", "panda", "no", "pass"]
    assert lines[3].startswith("beta: ") and "policy.onnx has sha256" in lines[3]
    assert len(lines) == 4

    result = robostral("policies", "list", "--policies-dir", policies, "--trusted-key", site_keys["site.pub"])
    assert [line.split()[2] for line in result.stdout.splitlines()[1:3]] == ["no", "no"]  # neither is signed
    assert "alpha: " in result.stdout and "unsigned" in result.stdout
