"""Instructions on the graph: send one and wait for the simulator to report it done; read one received.

The instruction goes out latched on ``/robostral/instruction``; the outcome is read
from the sim driver's ``/diagnostics`` (success for this instruction) and the policy
node's latency figures are collected on the way. ``received_instruction`` is how a node
reads the topic: one set of rules (``sim.language.check_instruction``) for every receiver.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass, field

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.serialization import deserialize_message
from std_msgs.msg import String

from robostral.ros import contract
from robostral.ros.messages import MAX_BYTES, diagnostic_values
from sim.language import check_instruction

# CDR encapsulations whose std_msgs/String is a uint32 length (the NUL included) then the bytes:
# classic CDR and plain XCDR2, big and little endian (the struct byte order of each).
_PLAIN_STRING = {b"\x00\x00": ">", b"\x00\x01": "<", b"\x00\x06": ">", b"\x00\x07": "<"}


def string_from_cdr(raw: bytes) -> str:
    """The text of a serialized std_msgs/String (a ``raw=True`` subscription's message); ValueError if malformed.

    Why not let rclpy convert it: it decodes invalid UTF-8 into U+FFFD replacements and cuts the text at
    its first NUL byte, both silently, so that "reach the red target\\0<binary junk>" would arrive as a
    valid instruction. Here a NUL inside the text, invalid UTF-8 or a length past the end is refused.
    """
    raw = bytes(raw)
    if len(raw) > MAX_BYTES[String]:
        raise ValueError(f"a std_msgs/String of {len(raw)} bytes; at most {MAX_BYTES[String]} are read")
    order = _PLAIN_STRING.get(raw[:2])
    if order is None:  # another encapsulation: rclpy's conversion, then the same checks on what it gives
        try:
            return deserialize_message(raw, String).data
        except Exception as error:  # rclpy raises several types for bytes that are no String
            raise ValueError(f"not a serialized std_msgs/String ({len(raw)} bytes): {error}") from None
    if len(raw) < 8:
        raise ValueError(f"a std_msgs/String of {len(raw)} bytes is cut short")
    (length,) = struct.unpack(order + "I", raw[4:8])
    body = raw[8 : 8 + length]
    if len(body) != length or (length and body[-1] != 0):
        raise ValueError(f"malformed std_msgs/String: {length} bytes announced, {len(raw) - 8} received")
    text = body[:-1]
    if b"\0" in text:
        raise ValueError(f"the text has a NUL byte at byte {text.index(0)}")
    try:
        return text.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"the text is not valid UTF-8 ({error.reason} at byte {error.start})") from None


def received_instruction(raw: bytes) -> str:
    """A serialized std_msgs/String from ``/robostral/instruction`` read by the rules: '' clears, else the
    instruction ``check_instruction`` accepts; ValueError saying why it is refused."""
    text = string_from_cdr(raw)
    return text if text == "" else check_instruction(text)


@dataclass
class Outcome:
    instruction: str
    success: bool
    seconds: float
    detail: str  # the sim driver's last message ("task succeeded", "there is no yellow cube...")
    policy: dict[str, str] = field(default_factory=dict)  # the policy node's last diagnostic values


def instruct(text: str, timeout: float, node=None) -> Outcome:
    """Publish ``text`` and wait up to ``timeout`` s for success; uses ``node`` or a temporary one.

    ValueError, before anything is published, for text that ``check_instruction`` refuses.
    """
    text = check_instruction(text)
    own = node is None
    if own:
        rclpy.init(args=[])
        node = rclpy.create_node("robostral_instruct")
    status: dict[str, dict] = {}

    def on_diagnostics(msg: DiagnosticArray) -> None:
        for entry in msg.status:
            status[entry.name] = {"message": entry.message, **diagnostic_values(entry)}

    subscription = node.create_subscription(DiagnosticArray, contract.DIAGNOSTICS, on_diagnostics,
                                            contract.DIAGNOSTICS_QOS)
    publisher = node.create_publisher(String, contract.INSTRUCTION, contract.LATCHED_QOS)
    try:
        publisher.publish(String(data=text))
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            rclpy.spin_once(node, timeout_sec=0.05)
            sim = status.get("sim_driver", {})
            if sim.get("instruction") == text and sim.get("success") == "True":
                break
        sim = status.get("sim_driver", {})
        done = sim.get("instruction") == text and sim.get("success") == "True"
        return Outcome(text, done, time.monotonic() - started, sim.get("message", "no report from the sim driver"),
                       status.get("policy_node", {}))
    finally:
        node.destroy_subscription(subscription)
        node.destroy_publisher(publisher)
        if own:
            node.destroy_node()
            rclpy.shutdown()
