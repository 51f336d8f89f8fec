"""Access control on the ROS 2 graph: what these wheels allow, and how a site confines the control network.

The Fast DDS of the PyPI wheels (ros-fastdds 3.2.3, ros-rmw-fastrtps-cpp 9.3.3) is built
without DDS-Security (``HAVE_SECURITY 0``): no SROS2 enclave can be used, and a node asked
for one does not start. See docs/security.md for the evidence. What remains is isolation:

- ``robostral up`` runs the graph with ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` unless
  the site chose a range (:func:`default_discovery_range`);
- :func:`fastdds_profile` writes a Fast DDS XML profile that binds every DDS socket to the
  addresses given (loopback, plus the control network's NIC on a multi-host cell) and
  discovers only the peers given: ``robostral security profile``;
- :func:`dds_security_status` checks, on this machine, whether the loaded Fast DDS has
  DDS-Security at all: ``robostral security check``.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
import tempfile
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path

DISCOVERY_RANGE = "ROS_AUTOMATIC_DISCOVERY_RANGE"
DEFAULT_DISCOVERY_RANGE = "LOCALHOST"
LOOPBACK = "127.0.0.1"
NO_SECURITY = "doesn't have the security libraries"  # rmw_fastrtps' error when Fast DDS lacks DDS-Security
MAX_PEERS_PER_HOST = 32  # participants (processes) probed per initial peer, as rmw_fastrtps' LOCALHOST range does
# Run in a child process: rcl reads the security variables at init, and a refused node leaves rcl's error state set.
# It prints "NODE STARTED" or "REFUSED: <why>" for the enclave formatted in.
ENCLAVE_PROBE = """
import rclpy
from rclpy.context import Context
context = Context()
try:
    rclpy.init(args=["--ros-args", "--enclave", "{enclave}"], context=context)
    rclpy.create_node("robostral_security_probe", context=context).destroy_node()
    print("NODE STARTED")
except Exception as error:
    print(f"REFUSED: {{error}}")
finally:
    context.try_shutdown()
"""


def default_discovery_range(environ: MutableMapping[str, str] | None = None) -> str:
    """Set ROS_AUTOMATIC_DISCOVERY_RANGE to LOCALHOST where the site has not set it; the range in force.

    A cell whose graph spans hosts sets SUBNET (with ROS_STATIC_PEERS) or SYSTEM_DEFAULT with a
    Fast DDS profile itself; an empty value counts as unset.
    """
    environ = os.environ if environ is None else environ
    if not environ.get(DISCOVERY_RANGE):
        environ[DISCOVERY_RANGE] = DEFAULT_DISCOVERY_RANGE
    return environ[DISCOVERY_RANGE]


@dataclass(frozen=True)
class SecurityStatus:
    """Whether the rmw in this environment can run an SROS2 enclave, and what it said."""

    available: bool
    detail: str  # the rmw's own words: its refusal, or that the node started


def dds_security_status(timeout: float = 60.0) -> SecurityStatus:
    """Ask the installed rclpy/rmw_fastrtps for an enclave under ROS_SECURITY_STRATEGY=Enforce.

    The keystore has an (empty) enclave directory, so rcl passes it to the rmw: a Fast DDS
    without DDS-Security refuses before reading any file ("This Fast DDS version doesn't have
    the security libraries"); one with it refuses the empty enclave for its missing files
    instead. No participant is created either way, so nothing is sent on any network.
    """
    with tempfile.TemporaryDirectory(prefix="robostral-keystore-") as keystore:
        (Path(keystore) / "enclaves" / "robostral" / "probe").mkdir(parents=True)
        env = {**os.environ, "ROS_SECURITY_ENABLE": "true", "ROS_SECURITY_STRATEGY": "Enforce",
               "ROS_SECURITY_KEYSTORE": keystore, DISCOVERY_RANGE: DEFAULT_DISCOVERY_RANGE}
        env.pop("ROS_SECURITY_ENCLAVE_OVERRIDE", None)
        probe = ENCLAVE_PROBE.format(enclave="/robostral/probe")
        result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True,
                                timeout=timeout, check=False)
    lines = [line for line in result.stdout.splitlines() if line.startswith(("REFUSED", "NODE STARTED"))]
    detail = lines[-1] if lines else (result.stdout + result.stderr).strip()[-2000:]
    if detail.startswith("NODE STARTED"):  # an empty enclave accepted: security is not enforced at all
        return SecurityStatus(False, "a node started in an enclave without certificates: security is not enforced")
    return SecurityStatus(NO_SECURITY not in detail and detail.startswith("REFUSED"), detail)


def fastdds_profile(addresses: Sequence[str] = (), peers: Sequence[str] = ()) -> str:
    """A Fast DDS XML profile (FASTDDS_DEFAULT_PROFILES_FILE) that confines DDS to ``addresses``.

    ``addresses``: this host's IPv4 addresses on the control network (loopback is always
    included); every UDP socket binds to one of them and SPDP multicast is off. ``peers``:
    the other hosts of the cell (IPv4), the only ones this host announces itself to; on one
    host, leave both empty. Use it with ROS_AUTOMATIC_DISCOVERY_RANGE=SYSTEM_DEFAULT: the
    LOCALHOST and SUBNET ranges make rmw_fastrtps add a UDP transport of its own, bound to
    every interface. ValueError for an address that is not an IPv4 address.
    """
    local = _ipv4s([LOOPBACK, *addresses], "address")
    remote = _ipv4s([LOOPBACK, *peers], "peer")
    allow = "".join(f"\n          <address>{a}</address>" for a in local)
    unicast = _locators(local, "          ")
    builtin_unicast, initial = _locators(local, "            "), _locators(remote, "            ")
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- Robostral control network profile: made by `robostral security profile`; see docs/security.md.
     Use with ROS_AUTOMATIC_DISCOVERY_RANGE=SYSTEM_DEFAULT and FASTDDS_DEFAULT_PROFILES_FILE=<this file>. -->
<dds xmlns="http://www.eprosima.com">
  <profiles>
    <transport_descriptors>
      <transport_descriptor>
        <transport_id>robostral_udp</transport_id>
        <type>UDPv4</type>
        <maxInitialPeersRange>{MAX_PEERS_PER_HOST}</maxInitialPeersRange>
        <interfaceWhiteList>{allow}
        </interfaceWhiteList>
      </transport_descriptor>
      <transport_descriptor>
        <transport_id>robostral_shm</transport_id>
        <type>SHM</type>
      </transport_descriptor>
    </transport_descriptors>
    <participant profile_name="robostral_control_network" is_default_profile="true">
      <rtps>
        <useBuiltinTransports>false</useBuiltinTransports>
        <userTransports>
          <transport_id>robostral_udp</transport_id>
          <transport_id>robostral_shm</transport_id>
        </userTransports>
        <defaultUnicastLocatorList>{unicast}
        </defaultUnicastLocatorList>
        <builtin>
          <metatrafficUnicastLocatorList>{builtin_unicast}
          </metatrafficUnicastLocatorList>
          <initialPeersList>{initial}
          </initialPeersList>
        </builtin>
      </rtps>
    </participant>
  </profiles>
</dds>
"""


def _locators(addresses: Sequence[str], indent: str) -> str:
    return "".join(f"\n{indent}<locator><udpv4><address>{a}</address></udpv4></locator>" for a in addresses)


def _ipv4s(texts: Sequence[str], what: str) -> list[str]:
    """Distinct IPv4 addresses in order; ValueError naming the first that is not one."""
    seen: list[str] = []
    for text in texts:
        try:
            address = str(ipaddress.IPv4Address(text.strip()))
        except ValueError:
            raise ValueError(f"{what} {text!r} is not an IPv4 address") from None
        if address not in seen:
            seen.append(address)
    return seen
