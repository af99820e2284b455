"""The ``ampaudit`` command line.

``ampaudit run [OVERRIDES...]`` runs an audit (a Hydra app: ``key=value``
overrides, ``--multirun`` sweeps, ``--cfg job`` to print the config);
``ampaudit ui`` opens the MLflow UI on the local store.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

__all__ = ["main"]

USAGE = """usage: ampaudit COMMAND [ARGS...]

commands:
  run [OVERRIDES...]   run an audit (Hydra app; e.g. recommender=popularity world.n_users=1000,
                       --multirun recommender=random,popularity,mf, --help for the config)
  ui [--port N]        open the MLflow UI on the local store (sqlite:///mlflow.db)
"""


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``ampaudit`` subcommands; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "run":
        from ampaudit.app import main as hydra_main

        sys.argv = ["ampaudit run", *rest]
        hydra_main()
        return 0
    if command == "ui":
        parser = argparse.ArgumentParser(prog="ampaudit ui")
        parser.add_argument("--port", type=int, default=5000)
        parser.add_argument("--backend-store-uri", default="sqlite:///mlflow.db")
        ns = parser.parse_args(rest)
        return subprocess.call(
            [
                sys.executable,
                "-m",
                "mlflow",
                "ui",
                "--host",
                "127.0.0.1",
                "--port",
                str(ns.port),
                "--backend-store-uri",
                ns.backend_store_uri,
            ]
        )
    print(f"ampaudit: error: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
