"""pendant: the teach pendant's server, one process that is a ROS 2 node and the web server.

The node (``robostral.ros.pendant_bridge``) spins in a background thread; uvicorn serves the Starlette
app (``robostral.pendant.web.app``) in the main thread at http://``host``:``port`` (127.0.0.1:8080 by
default). Parameters: ``db`` (the SQLite file of users, programs and the audit log), ``host``,
``port``, ``policies_dir`` (the bundles offered on the Policies screen), ``demonstrations`` (the dataset the
Demonstrate screen keeps demonstrations in, ``robostral.pendant.demonstrations``), ``tls_cert`` and ``tls_key``
(HTTPS with this certificate and key; without them it serves only on loopback: ``robostral.pendant.tls``,
checked before anything listens). SIGINT/SIGTERM stop the server, the runner (the arm holds) and the node.
"""

from __future__ import annotations

import signal
import sys
import threading

import rclpy
import uvicorn
from rclpy.executors import SingleThreadedExecutor

from robostral.pendant.demonstrations import Demonstrations
from robostral.pendant.motion.runner import ProgramRunner
from robostral.pendant.service import Pendant
from robostral.pendant.tls import TlsError, tls_for
from robostral.pendant.web.app import create_app
from robostral.pendant.web.http import Site
from robostral.ros.demonstration_recorder import DemonstrationRecorder
from robostral.ros.pendant_bridge import PendantBridge

GRACEFUL_SHUTDOWN = 2.0  # s for open connections to finish at shutdown


def main(argv: list[str] | None = None) -> None:
    rclpy.init(args=list(argv if argv is not None else sys.argv),
               signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
    for sig in (signal.SIGINT, signal.SIGTERM):  # until uvicorn takes over, and what it re-raises after
        signal.signal(sig, _interrupt)
    bridge = PendantBridge()
    settings = bridge.settings
    try:
        tls = tls_for(settings.host, settings.tls_cert, settings.tls_key)
    except TlsError as error:
        bridge.destroy_node()
        rclpy.try_shutdown()
        raise SystemExit(f"pendant: {error}") from None
    recorder = DemonstrationRecorder(bridge, bridge.streamer.period)  # its subscriptions made before spinning
    executor = SingleThreadedExecutor()
    executor.add_node(bridge)
    spinner = threading.Thread(target=executor.spin, name="ros-executor", daemon=True)
    spinner.start()
    pendant = Pendant.open(settings.db)
    runner = ProgramRunner(bridge, pendant.audit)
    bridge.on_halt = runner.halt
    site = Site(settings.host, settings.port, tls.names if tls else (), tls=tls is not None)
    demonstrations = Demonstrations(settings.demonstrations, recorder, pendant.audit)
    app = create_app(pendant, bridge, runner, site, settings.policies_dir, demonstrations=demonstrations)
    certificate = {"ssl_certfile": str(tls.cert), "ssl_keyfile": str(tls.key)} if tls else {}
    server = uvicorn.Server(uvicorn.Config(app, host=settings.host, port=settings.port, lifespan="off",
                                           log_level="warning", access_log=False,
                                           timeout_graceful_shutdown=GRACEFUL_SHUTDOWN, **certificate))
    url = f"{'https' if tls else 'http'}://{settings.host}:{settings.port}"
    bridge.get_logger().info(f"teach pendant at {url} (database {settings.db})")
    if tls:
        bridge.get_logger().info(f"TLS certificate {tls.cert} for {', '.join(tls.names) or 'no names'}, valid until "
                                 f"{tls.expires:%Y-%m-%d} UTC, SHA-256 fingerprint {tls.fingerprint}")
        if warning := tls.expiry_warning():
            bridge.get_logger().warning(warning)
    try:
        server.run()
        if not server.started:
            raise SystemExit(f"pendant: could not serve {url} (see above)")
    except KeyboardInterrupt:
        pass
    finally:
        runner.shutdown()
        executor.shutdown()
        bridge.destroy_node()
        rclpy.try_shutdown()
        pendant.close()


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    main()
