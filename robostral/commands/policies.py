"""`robostral policies`: site keys, signatures, verification, and promotion of gated bundles into policies/.

Trusted public keys come from --trusted-key, or else from ROBOSTRAL_TRUSTED_KEYS
(paths separated by the OS path separator). Exit status: 0 done, 1 a bundle does
not verify or is not promoted (the reasons are printed), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from robostral.bundle.promote import POLICIES_DIR


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("policies", help="sign, verify, promote, list policy bundles", description=__doc__)
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    keygen = actions.add_parser("keygen", help="make a site key pair (Ed25519)")
    keygen.add_argument("--private", required=True, type=Path, help="private key file to write (mode 0600)")
    keygen.add_argument("--public", required=True, type=Path, help="public key file to write")
    keygen.set_defaults(run=keygen_command)

    sign = actions.add_parser("sign", help="sign a bundle's card (writes card.sig)")
    sign.add_argument("bundle", type=Path, help="a bundle folder (from robostral export)")
    sign.add_argument("--key", required=True, type=Path, help="the site's private key")
    sign.set_defaults(run=sign_command)

    verify = actions.add_parser("verify", help="check a bundle's hashes, and its signature where keys are trusted")
    verify.add_argument("bundle", type=Path, help="a bundle folder (from robostral export)")
    _trusted_key_argument(verify)
    verify.set_defaults(run=verify_command)

    promote = actions.add_parser("promote", help="copy a bundle into policies/NAME if it verifies and passes its gate")
    promote.add_argument("bundle", type=Path, help="a bundle folder (from robostral export)")
    promote.add_argument("--name", required=True, help="its folder under --policies-dir, e.g. robostral-s-panda")
    promote.add_argument("--policies-dir", type=Path, default=POLICIES_DIR, help="default: %(default)s")
    promote.add_argument("--replace", action="store_true", help="replace an existing policies/NAME")
    _trusted_key_argument(promote)
    promote.set_defaults(run=promote_command)

    upgrade = actions.add_parser(
        "upgrade", help="rewrite a format-1 bundle (one graph) as this version's: instruction head + per-step graph")
    upgrade.add_argument("bundle", type=Path, help="a format-1 bundle folder")
    upgrade.add_argument("--out", type=Path, help="where to write it (default: in place, once every check passed)")
    upgrade.set_defaults(run=upgrade_command)

    deploy = actions.add_parser("deploy", help="switch the running policy node to a bundle (lifecycle), or keep "
                                "the one it runs")
    deploy.add_argument("bundle", type=Path, help="a bundle folder, e.g. policies/robostral-s-panda")
    deploy.add_argument("--node", default="policy_node", help="the policy node's name (default: %(default)s)")
    deploy.set_defaults(run=deploy_command)

    listing = actions.add_parser("list", help="the promoted bundles: robot, evaluation, gate, whether they verify")
    listing.add_argument("--policies-dir", type=Path, default=POLICIES_DIR, help="default: %(default)s")
    _trusted_key_argument(listing)
    listing.set_defaults(run=list_command)


def _trusted_key_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--trusted-key",
        action="append",
        type=Path,
        metavar="PUB",
        help="a trusted public key (repeatable; default: ROBOSTRAL_TRUSTED_KEYS)",
    )


def keygen_command(args: argparse.Namespace) -> int:
    from robostral.bundle.signing import generate_keypair

    try:
        generate_keypair(args.private, args.public)
    except FileExistsError as error:
        raise ValueError(str(error)) from None
    print(f"private key {args.private} (keep it secret), public key {args.public} (give it to every runtime)")
    return 0


def sign_command(args: argparse.Namespace) -> int:
    from robostral.bundle.signing import sign_bundle
    from robostral.bundle.verify import verify_bundle

    verify_bundle(args.bundle, trusted_keys=[])  # never vouch for a bundle whose files do not match its card
    print(f"signed: {sign_bundle(args.bundle, args.key)}")
    return 0


def verify_command(args: argparse.Namespace) -> int:
    from robostral.bundle.card import BundleError
    from robostral.bundle.verify import verify_bundle

    try:
        verified = verify_bundle(args.bundle, args.trusted_key)
    except BundleError as error:
        print(f"FAILED: {error}", file=sys.stderr)
        return 1
    files = len(verified.card.files)
    if verified.trusted_keys:
        print(f"ok: {args.bundle}: {files} files match their sha256; signed by a trusted key")
    else:
        print(f"ok: {args.bundle}: {files} files match their sha256; signature not checked (no trusted keys)")
    return 0


def promote_command(args: argparse.Namespace) -> int:
    from robostral.bundle.promote import PromotionRefused, promote

    try:
        target = promote(args.bundle, args.name, args.policies_dir, args.trusted_key, replace=args.replace)
    except PromotionRefused as refusal:
        print(refusal, file=sys.stderr)
        return 1
    print(f"promoted {args.bundle} to {target}")
    return 0


def upgrade_command(args: argparse.Namespace) -> int:
    import shlex

    from robostral.export.upgrade import upgrade_bundle

    out = args.out or args.bundle
    upgrade = upgrade_bundle(args.bundle, out, "robostral " + shlex.join(sys.argv[1:]))
    print(f"upgraded {args.bundle} to {out}: the new graphs match its policy graph within "
          f"{upgrade['max_abs_vs_previous_graph']:.2g} on {upgrade['frames']} observations")
    for name in upgrade["dropped"]:
        again = "sign it again" if name.endswith(".sig") else "export with --int8 again"
        print(f"dropped {name}: it was made for the old graph ({again})")
    return 0


def deploy_command(args: argparse.Namespace) -> int:
    from robostral.ros.deploy import DeployError, deploy

    try:
        previous = deploy(args.bundle, args.node)
    except DeployError as error:
        print(f"not deployed: {error}", file=sys.stderr)
        return 1
    print(f"{args.node} runs {args.bundle} (before: {previous})")
    return 0


def list_command(args: argparse.Namespace) -> int:
    from robostral.bundle.promote import format_table, list_policies

    entries = list_policies(args.policies_dir, args.trusted_key)
    print(format_table(entries) if entries else f"no policy bundles in {args.policies_dir}")
    return 0
