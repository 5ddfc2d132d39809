"""`python -m autoscaling.emulator --port N [--record FILE]`: run the AWS emulator."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from golden.core.shell import in_background

from autoscaling.emulator import config, server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m autoscaling.emulator",
        description="moto server on 127.0.0.1 with instance refresh and launch-template fixes.",
    )
    parser.add_argument("--port", type=int, default=5000, help="TCP port on 127.0.0.1")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (keep loopback: the emulator has no auth)",
    )
    parser.add_argument(
        "--record", metavar="FILE", help="append one JSON line per AWS request to FILE"
    )
    parser.add_argument(
        "--step-seconds",
        type=float,
        default=None,
        help="minimum seconds between two steps of an instance refresh",
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=None,
        help="factor for checkpoint delay, bake time (0 = no waiting)",
    )
    parser.add_argument(
        "--seed",
        metavar="ENV",
        default=None,
        help="once listening, create ENV's network, alarms and two tested AMIs per role "
        "(autoscaling.emulator.seed), e.g. --seed local",
    )
    args = parser.parse_args(argv)
    defaults = {
        k: v
        for k, v in (("step_seconds", args.step_seconds), ("time_scale", args.time_scale))
        if v is not None
    }
    if defaults:
        config.set_defaults(**defaults)
    httpd = server.make(args.port, args.record, host=args.host)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    url = f"http://{args.host}:{httpd.server_port}"
    print(f"golden AWS emulator listening on {url}", file=sys.stderr, flush=True)
    failed = threading.Event()
    if args.seed:
        # A failed seeding is one line, and the emulator stops: serving an environment
        # that is only half there would fail later, further from the cause.
        in_background(
            f"seeding {args.seed} (python -m autoscaling.emulator --seed)",
            _seed,
            args.seed,
            url,
            on_error=lambda _exc: (failed.set(), httpd.shutdown()),
        )
    try:
        httpd.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        httpd.server_close()
    return 1 if failed.is_set() else 0


def _seed(env_name: str, url: str) -> None:
    from autoscaling.aws import Clients
    from autoscaling.emulator import seed
    from autoscaling.settings import load

    env = load(env_name)
    clients = Clients(env.region, url)
    network = seed.seed_network(env, clients)
    amis = seed.seed_amis(env, clients, 2)
    print(
        f"seeded {env.name}: subnets {sorted(network['subnets'])}, AMIs {amis}",
        file=sys.stderr,
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
