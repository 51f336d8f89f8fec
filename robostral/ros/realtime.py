"""Real-time scheduling for the control path: the nodes between the camera and the arm run ahead of the rest.

On a cell computer the teach pendant's browsers, a recorder or a training job share the
CPUs with the control loop; under the default scheduler they delay it (bench/pendant_load.py
measured a 4.8x p99 with two browsers drawing). A node whose ``realtime_priority``
parameter is above 0 moves every one of its threads to SCHED_FIFO at that priority, as
ros2_control does for its control loop; threads it starts later inherit it. That needs
root, CAP_SYS_NICE or an rtprio limit (/etc/security/limits.conf); without it the node
runs on the normal scheduler and says so.
"""

from __future__ import annotations

import os

PARAMETER = "realtime_priority"  # 0: normal scheduling; 1..99: SCHED_FIFO priority


def make_realtime(priority: int) -> str:
    """Put every thread of this process on SCHED_FIFO at ``priority``; what was done, in words."""
    if not 1 <= priority <= 99:
        raise ValueError(f"{PARAMETER} must be 0 (normal scheduling) or 1..99, got {priority}")
    try:
        for thread in os.listdir("/proc/self/task"):
            os.sched_setscheduler(int(thread), os.SCHED_FIFO, os.sched_param(priority))
    except PermissionError:
        return f"{PARAMETER} {priority} refused (needs root, CAP_SYS_NICE or an rtprio limit): normal scheduling"
    except ProcessLookupError:  # a thread ended while we went through them: the rest are done
        pass
    return f"real-time scheduling: SCHED_FIFO priority {priority}"
