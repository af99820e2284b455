"""The ``ampaudit`` command line.

``ampaudit run [OVERRIDES...]`` runs an audit (a Hydra app: ``key=value``
overrides, ``--multirun`` sweeps, ``--cfg job`` to print the config);
``ampaudit ui`` opens the MLflow UI on the local store.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

__all__ = ["main"]

USAGE = """usage: ampaudit COMMAND [ARGS...]

commands:
  run [--wide] [OVERRIDES...]
                       run an audit (Hydra app; e.g. recommender=popularity world.n_users=1000,
                       --multirun recommender=random,popularity,mf, --help for the config);
                       --wide prints every column of the tables, not just what fits 100
  check-recommender TARGET
                       run the conformance suite on a recommender: a built-in name, an
                       installed plugin name, an import path (package.module:Class), or
                       the http(s):// URL of a recommender service (the remote adapter)
  check-intervention TARGET
                       run the conformance suite on an intervention: a built-in name, an
                       installed plugin name (entry-point group ampaudit.interventions) or
                       an import path (package.module:Class)
  serve-stub --recommender NAME [--port N]
                       serve a built-in recommender over the HTTP protocol on 127.0.0.1
                       (the reference implementation of a platform's service)
  audit-log LOG --items ITEMS [--users USERS] [--control ARM] [--epsilon E] [--seed S]
                       the same per-arm metrics from a platform's impression log
                       (Parquet or CSV), optionally with differential privacy
  sensitivity [OVERRIDES...] [--plan]
                       how robust is each conclusion: run the audit over stated ranges of
                       its behavioural assumptions (SALib Morris or Sobol', through the
                       Hydra launcher) and report where each conclusion holds and what
                       drives it (configs/sensitivity/default.yaml)
  report TARGET -o FILE [--audit ID | --compare | --sweep ID] [--format html|json]
         [--uri URI] [--no-log]
                       a self-contained HTML report for review panels (or the JSON
                       transparency export) of an audit: TARGET is an MLflow run id, an
                       experiment name (its latest audit) or an exported table (all its
                       audits, compared); --audit ID picks one audit, --compare puts all
                       on one page, --sweep ID those of one --multirun sweep;
                       --schema prints the JSON export's schema
  export EXPERIMENT -o FILE [--uri URI]
                       one tidy table (audit, arm, replicate, metric, step, value) of an
                       MLflow experiment, as .parquet or .csv
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
        from ampaudit.app import WIDE
        from ampaudit.app import main as hydra_main

        if "--wide" in rest:  # ours, not Hydra's: every column of the tables
            os.environ[WIDE] = "1"
            rest = [a for a in rest if a != "--wide"]
        sys.argv = ["ampaudit run", *rest]
        hydra_main()
        return 0
    if command == "sensitivity":
        from ampaudit.sensitivity.command import main as sensitivity_main

        return sensitivity_main(rest)
    if command == "check-recommender":
        return check_command(rest)
    if command == "check-intervention":
        return check_intervention_command(rest)
    if command == "serve-stub":
        return serve_command(rest)
    if command == "audit-log":
        return audit_log_command(rest)
    if command == "export":
        return export_command(rest)
    if command == "report":
        return report_command(rest)
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


def export_command(args: list[str]) -> int:
    """``ampaudit export``: write an experiment's tidy table."""
    parser = argparse.ArgumentParser(prog="ampaudit export")
    parser.add_argument("experiment")
    parser.add_argument("-o", "--output", required=True, help="FILE.parquet or FILE.csv")
    parser.add_argument("--uri", default="sqlite:///mlflow.db")
    ns = parser.parse_args(args)
    from ampaudit.export import export_experiment

    if not ns.output.endswith((".parquet", ".csv")):
        print("ampaudit: error: --output must end in .parquet or .csv", file=sys.stderr)
        return 2
    try:
        table = export_experiment(ns.uri, ns.experiment)
    except ValueError as exc:
        print(f"ampaudit: error: {exc}", file=sys.stderr)
        return 2
    if ns.output.endswith(".csv"):
        table.to_csv(ns.output, index=False)
    else:
        table.to_parquet(ns.output, index=False)
    print(f"{len(table)} rows from {table['audit'].nunique()} audits -> {ns.output}")
    return 0


def report_command(args: list[str]) -> int:
    """``ampaudit report``: an audit's HTML report or JSON export, or several audits compared.

    An experiment means its latest audit (said on stderr when it holds several); a
    table with several audits means all of them, compared. ``--audit`` picks one,
    ``--compare`` takes all, ``--sweep`` one sweep's.
    """
    parser = argparse.ArgumentParser(prog="ampaudit report")
    parser.add_argument("target", nargs="?", help="MLflow run id, experiment name or table")
    parser.add_argument("-o", "--output", help="FILE.html or FILE.json")
    parser.add_argument("--format", choices=("html", "json"), help="default: from -o's suffix")
    parser.add_argument("--uri", default="sqlite:///mlflow.db", help="MLflow tracking URI")
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument(
        "--audit", metavar="ID", help="one of TARGET's audits: its parent run id or a prefix"
    )
    choice.add_argument("--compare", action="store_true", help="all of TARGET's audits on one page")
    choice.add_argument("--sweep", metavar="ID", help="the audits of one sweep on one page")
    parser.add_argument(
        "--no-log", action="store_true", help="do not store the file in the audit's parent run"
    )
    parser.add_argument("--schema", action="store_true", help="print the JSON export's schema")
    ns = parser.parse_args(args)
    import json
    import os

    # an unreachable tracking server: fail in seconds, not after MLflow's 7 retries
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    from ampaudit.report import (
        ReportSourceError,
        open_source,
        schema,
        write_comparison_report,
        write_report,
    )
    from ampaudit.report.source import audit_list, own_audits

    if ns.schema:
        print(json.dumps(schema(), indent=2))
        return 0
    if ns.target is None or ns.output is None:
        parser.error("TARGET and -o FILE are required")
    fmt = ns.format or ("json" if ns.output.endswith(".json") else "html")
    try:
        compare = ns.compare or ns.sweep is not None
        if not compare and ns.audit is None:
            source = open_source(ns.target, uri=ns.uri)
            audits = own_audits(source.refs)
            if len(audits) > 1 and source.where.startswith("table"):
                if fmt == "json":
                    raise ReportSourceError(
                        f"{source.where} holds {len(audits)} audits and the JSON export covers "
                        f"one: pass --audit ID ({audit_list(audits)})"
                    )
                print(
                    f"ampaudit: {source.where} holds {len(audits)} audits: comparing them all "
                    "(--audit ID reports one)",
                    file=sys.stderr,
                )
                compare = True
            elif len(audits) > 1:
                latest = next((r for r in audits if r.tags.get("mode") != "sock_puppet"), audits[0])
                print(
                    f"ampaudit: {source.where} holds {len(audits)} audits; reporting the latest, "
                    f"{latest.describe()}. --audit ID reports another, --compare all of them, "
                    "--sweep ID one sweep's",
                    file=sys.stderr,
                )
        if compare:
            if fmt == "json":
                raise ReportSourceError(
                    "the JSON transparency export covers one audit: pass --audit ID, or write "
                    "the comparison as .html"
                )
            comparison = write_comparison_report(
                ns.target, ns.output, uri=ns.uri, sweep=ns.sweep, log_artifact=not ns.no_log
            )
            n = len(comparison.points)
            print(
                f"html comparison of {n} audit{'s' * (n != 1)} ({comparison.source}) -> {ns.output}"
            )
            return 0
        report = write_report(
            ns.target,
            ns.output,
            uri=ns.uri,
            fmt=fmt,
            log_artifact=not ns.no_log,
            audit=ns.audit,
        )
    except ReportSourceError as exc:
        print(f"ampaudit: error: {exc}", file=sys.stderr)
        return 2
    partial = f" ({len(report.notes)} notes: see the top of the report)" if report.notes else ""
    print(f"{fmt} report of {report.data.source} -> {ns.output}{partial}")
    return 0


def audit_log_command(args: list[str]) -> int:
    """``ampaudit audit-log``: print per-arm metrics of an impression log."""
    parser = argparse.ArgumentParser(prog="ampaudit audit-log")
    parser.add_argument("log", help="impression log (.parquet or .csv)")
    parser.add_argument("--items", required=True, help="item table: item, category")
    parser.add_argument("--users", help="optional: arm, [replicate,] n_users")
    parser.add_argument("--control", default="control", help="the baseline arm")
    parser.add_argument("--epsilon", type=float, help="total privacy budget (Laplace)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the DP noise")
    ns = parser.parse_args(args)
    import numpy as np

    from ampaudit.logaudit import LogError, audit_log, load_table, noise_warnings

    try:
        log, items = load_table(ns.log), load_table(ns.items)
        users = load_table(ns.users) if ns.users else None
        results = audit_log(
            log,
            items,
            control=ns.control,
            users=users,
            epsilon=ns.epsilon,
            rng=np.random.default_rng(ns.seed),
        )
    except LogError as exc:
        print(f"ampaudit: error: {exc}", file=sys.stderr)
        return 2
    keys = [
        "rec_share.extreme",
        "cons_share.extreme",
        "reach.extreme",
        "rec_reach.extreme",
        "amplification.extreme",
        "ctr",
    ]
    print("arm  replicate  " + "  ".join(keys))
    for (arm, rep), metrics in results.items():
        cells = [_log_cell(metrics, k) for k in keys]
        print(f"{arm}  {rep}  " + "  ".join(cells))
    if ns.epsilon is not None:
        first = next(iter(results.values()))
        error = first["dp.expected_error.reach"]
        print(
            f"\nDifferential privacy: total epsilon {ns.epsilon} over the reach counts "
            f"(Laplace, sensitivity 1, scale {first['dp.noise_scale_users']:.3g} users per "
            f"count); expected absolute error of each reach {error:.4f}. "
            "Intervals [95%] include the noise; other metrics are withheld."
        )
        for line in noise_warnings(results, "extreme"):
            print(line, file=sys.stderr)
    return 0


def _log_cell(metrics: dict[str, float], key: str) -> str:
    """A metric of ``audit-log``, with its noise interval under differential privacy."""
    if metrics.get(f"{key}.refused"):
        return "not reported"
    if key not in metrics:
        return "n/a"
    text = f"{metrics[key]:.4f}"
    if f"{key}.low" in metrics:
        text += f" [{metrics[f'{key}.low']:.4f}, {metrics[f'{key}.high']:.4f}]"
    return text


def serve_command(args: list[str]) -> int:
    """``ampaudit serve-stub``: serve a recommender until interrupted."""
    parser = argparse.ArgumentParser(prog="ampaudit serve-stub")
    parser.add_argument("--recommender", required=True, help="built-in, plugin or import path")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    ns = parser.parse_args(args)
    from ampaudit.core.errors import ConfigError
    from ampaudit.plugins import resolve_recommender
    from ampaudit.recommenders.stub_server import RecommenderService, make_server

    try:
        recommender = resolve_recommender(ns.recommender)()
    except ConfigError as exc:
        print(f"ampaudit: error: {exc}", file=sys.stderr)
        return 2
    from ampaudit import __version__
    from ampaudit.recommenders.protocol import PROTOCOL

    service = RecommenderService(recommender, ns.recommender, version=f"ampaudit {__version__}")
    server = make_server(service, ns.host, ns.port)
    host, port = server.server_address[:2]
    print(f"serving {ns.recommender} on http://{host}:{port} ({PROTOCOL})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def check_command(args: list[str]) -> int:
    """``ampaudit check-recommender TARGET``: one line per check; 1 if any fails."""
    parser = argparse.ArgumentParser(prog="ampaudit check-recommender")
    parser.add_argument(
        "target",
        help="built-in name, plugin name, package.module:Class, or the http(s):// URL of a "
        "recommender service (e.g. one started with ampaudit serve-stub)",
    )
    ns = parser.parse_args(args)
    from ampaudit.checks import check_recommender
    from ampaudit.core.errors import ConfigError
    from ampaudit.plugins import resolve_recommender
    from ampaudit.recommenders import RemoteRecommenderError

    try:
        target = resolve_recommender(ns.target)
        if ns.target.startswith(("http://", "https://")):
            # one clear line for a service that is not there, not one per check
            system = target().describe()
            print(f"{system['name']} {system['version']} at {ns.target}\n")
        results = check_recommender(target)
    except (ConfigError, RemoteRecommenderError) as exc:
        print(f"ampaudit: error: {exc}", file=sys.stderr)
        return 2
    return _print_checks(results)


def check_intervention_command(args: list[str]) -> int:
    """``ampaudit check-intervention TARGET``: one line per check; 1 if any fails."""
    parser = argparse.ArgumentParser(prog="ampaudit check-intervention")
    parser.add_argument("target", help="built-in name, plugin name, or package.module:Class")
    ns = parser.parse_args(args)
    from ampaudit.checks import check_intervention
    from ampaudit.core.errors import ConfigError
    from ampaudit.plugins import resolve_intervention

    try:
        results = check_intervention(resolve_intervention(ns.target))
    except ConfigError as exc:
        print(f"ampaudit: error: {exc}", file=sys.stderr)
        return 2
    return _print_checks(results)


def _print_checks(results: list) -> int:
    """One line per check and a summary; the exit code is 1 if any check failed."""
    width = max(len(r.name) for r in results)
    for r in results:
        line = f"{r.status.upper():4}  {r.name.ljust(width)}"
        print(f"{line}  {r.message}" if r.message else line)
    counts = {s: sum(r.status == s for r in results) for s in ("pass", "fail", "skip")}
    print(f"\n{counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped")
    return 1 if counts["fail"] else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
