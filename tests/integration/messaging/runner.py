"""Runs one test service in its own OS process so a test can kill -9 it.

python runner.py publisher|consumer NAME --amqp URI --db URL [--source NAME] [--fault WHEN] [--pace S] --ready FILE
"""

import eventlet

eventlet.monkey_patch()

import argparse  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import messaging_support as support  # noqa: E402
from nameko.runners import ServiceRunner  # noqa: E402

from shared.messaging.outbox import OutboxRelay  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["publisher", "consumer"])
    parser.add_argument("name")
    parser.add_argument("--amqp", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--source")
    parser.add_argument("--fault", choices=["after_commit", "after_confirm"])
    parser.add_argument("--pace", type=float, default=0.0, help="seconds of work per event (consumer)")
    parser.add_argument("--ready", required=True)
    args = parser.parse_args()

    if args.fault == "after_confirm":
        # The broker has confirmed the batch; die before the rows are marked sent.
        def die(self: OutboxRelay, session: object, rows: object) -> int:
            os.kill(os.getpid(), signal.SIGKILL)
            return 0

        OutboxRelay._mark = die  # type: ignore[method-assign]

    if args.role == "publisher":
        service = support.make_publisher(args.name, fault=args.fault)
    else:
        service = support.make_consumer(args.name, source=args.source, pace=args.pace)
    runner = ServiceRunner(support.config(args.amqp, args.db))
    runner.add_service(service)
    runner.start()
    Path(args.ready).write_text(str(os.getpid()))

    def stop(*_: object) -> None:
        eventlet.spawn(runner.stop)  # not from the hub's own greenlet

    signal.signal(signal.SIGTERM, stop)
    runner.wait()


if __name__ == "__main__":
    main()
