"""Entry point of the `diversion` command: patch eventlet first when a command runs nameko, then the CLI."""

import sys


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        import eventlet

        eventlet.monkey_patch()  # before anything imports socket or threading
    from shared.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
