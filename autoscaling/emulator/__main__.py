"""`python -m autoscaling.emulator --port N [--record FILE]`: run the AWS emulator."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from golden.core.shell import in_background

from autoscaling.emulator import config, runtime, server, ticker


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
        "--also-host",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="serve the same emulator on this address too (same port), e.g. the gateway "
        "of a docker network the rehearsal made, so its instances reach S3 and SSM",
    )
    parser.add_argument(
        "--runtime",
        metavar="MODULE:FACTORY",
        default=os.environ.get("GOLDEN_EMULATOR_RUNTIME"),
        help="make instances real: a runtime plug-in (autoscaling/emulator/runtime.py), "
        "e.g. golden.rehearsal.instances:from_environment",
    )
    parser.add_argument(
        "--tick-seconds",
        type=float,
        default=None,
        help="move refreshes on and evaluate alarms every N seconds without polling",
    )
    parser.add_argument(
        "--evaluate-alarms",
        action="store_true",
        help="evaluate metric alarms from metric data (default: SetAlarmState only)",
    )
    parser.add_argument(
        "--seed",
        metavar="ENV",
        default=None,
        help="once listening, create ENV's network, alarms and two tested AMIs per role "
        "(autoscaling.emulator.seed), e.g. --seed local",
    )
    args = parser.parse_args(argv)
    settings = (
        ("step_seconds", args.step_seconds),
        ("time_scale", args.time_scale),
        ("tick_seconds", args.tick_seconds),
        ("evaluate_alarms", 1.0 if args.evaluate_alarms else None),
    )
    defaults = {k: v for k, v in settings if v is not None}
    if defaults:
        config.set_defaults(**defaults)
    if args.runtime:
        try:
            runtime.install(runtime.load(args.runtime))
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    httpd = server.make(args.port, args.record, host=args.host)
    extra = [server.make(httpd.server_port, host=h, app=httpd.app) for h in args.also_host]
    for other in extra:
        threading.Thread(target=other.serve_forever, daemon=True).start()
    ticker.start()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    url = f"http://{args.host}:{httpd.server_port}"
    hosts = ", ".join([url] + [f"http://{h}:{httpd.server_port}" for h in args.also_host])
    print(f"golden AWS emulator listening on {hosts}", file=sys.stderr, flush=True)
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
        ticker.stop()
        for server_ in [httpd, *extra]:
            server_.server_close()
        runtime.close()
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
