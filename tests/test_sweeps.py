"""Sweeps through real Hydra launchers, the sweep comparison and the tidy export."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import ampaudit, audit_parents, local_client, local_runs


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("sweep")
    proc = ampaudit(
        "run",
        "--multirun",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "recommender=random,popularity",
        "interventions=[],[downrank]",
        "audit.replicates=2",
        "world=small",
        "audit.n_steps=5",
        "audit.progress=false",
        "seed=9",
        cwd=cwd,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return cwd


def test_joblib_sweep_files_every_run_under_its_parent(swept):
    runs = local_runs(swept)
    parents = {r.info.run_id: r for r in audit_parents(runs)}
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 4  # 2 recommenders x 2 intervention lists
    # arms: control + treatment (+ treatment+downrank), each x 2 replicates
    assert len(children) == 2 * (2 * 2) + 2 * (3 * 2)
    assert all(c.data.tags["mlflow.parentRunId"] in parents for c in children)
    assert {r.info.status for r in runs} == {"FINISHED"}
    points = {(p.data.tags["recommender"], p.data.tags["interventions"]) for p in parents.values()}
    assert points == {(r, i) for r in ("random", "popularity") for i in ("none", "downrank")}
    # the workers' audits carry the sweep id the launching process made, so its one
    # comparison covers the four of them
    [sweep] = [r for r in runs if r.data.tags.get("mode") == "sweep"]
    sweep_id = sweep.data.tags["sweep"]
    assert {p.data.tags["sweep"] for p in parents.values()} == {sweep_id}
    jobs = [json.loads(p.data.tags[f"sweep.{sweep_id}"])["job"] for p in parents.values()]
    assert sorted(jobs) == [0, 1, 2, 3]
    assert sweep.data.tags["audits"] == "4"


# --- one table and one report for a sweep ---------------------------------------------

RECOMMENDERS = ("random", "popularity", "mf")


@pytest.fixture(scope="module")
def three(tmp_path_factory):
    """``(folder, stdout)`` of a basic-launcher sweep over three recommenders."""
    cwd = tmp_path_factory.mktemp("three")
    proc = ampaudit(
        "run",
        "--multirun",
        f"recommender={','.join(RECOMMENDERS)}",
        "world=small",
        "audit.n_steps=5",
        "audit.replicates=2",
        "audit.progress=false",
        "seed=13",
        cwd=cwd,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return cwd, proc.stdout


@pytest.fixture(scope="module")
def three_table(three, tmp_path_factory):
    """The sweep's store exported as ``results.parquet``."""
    cwd, _ = three
    table = tmp_path_factory.mktemp("three_table") / "results.parquet"
    proc = ampaudit("export", "ampaudit", "-o", table, "--uri", f"sqlite:///{cwd / 'mlflow.db'}")
    assert proc.returncode == 0, proc.stderr
    return table


def _sweep_table(stdout):
    """``(sweep id, {point label: [arm row, ...]}, footnote)`` of the sweep's table."""
    head = re.search(r"^Sweep (\w+): (\d+) audits \(.*\)$", stdout, re.M)
    lines = stdout[head.end() :].strip("\n").splitlines()
    assert lines[0].split()[:2] == ["arm", "extreme"]
    assert set(lines[1]) <= {"-", " "}
    points: dict[str, list[str]] = {}
    i = 2
    while lines[i]:
        if lines[i].startswith("  "):
            points[list(points)[-1]].append(lines[i])
        else:
            points[lines[i]] = []
        i += 1
    end = next(j for j, line in enumerate(lines) if line.startswith("Sweep report: "))
    return head.group(1), points, lines[i + 1 : end]


class _Page(HTMLParser):
    """The comparison page's row groups and sections, and every tag name used."""

    def __init__(self):
        super().__init__()
        self.groups, self.sections, self.tags = [], [], set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.add(tag)
        if tag == "tbody" and "data-point" in a:
            self.groups.append((a["data-point"], []))
        elif tag == "tr" and "data-arm" in a and self.groups and not self.sections:
            self.groups[-1][1].append(a["data-arm"])
        elif tag == "section" and a.get("class") == "point":
            self.sections.append((a["id"], a["data-point"]))


def test_a_sweep_prints_one_table_covering_every_point(three):
    _, stdout = three
    assert len(re.findall(r"^Sweep \w+: \d+ audits", stdout, re.M)) == 1  # one table
    _, points, footnote = _sweep_table(stdout)
    assert list(points) == [f"recommender={r}" for r in RECOMMENDERS]  # sweep order
    for rec in RECOMMENDERS:
        rows = points[f"recommender={rec}"]
        assert [r.split()[0] for r in rows[:2]] == ["chronological", rec]
        # the arm's four metrics, then its verdicts against the baseline
        assert len(re.split(r"\s{2,}", rows[1].strip())) == 5, rows[1]
        assert rows[2].strip().startswith(f"{rec} vs base: exposure ")
    text = " ".join(footnote)
    assert "over 2 replicates per audit, horizon 5 steps" in text
    assert "baseline (*) = each audit's control arm (chronological)" in text
    assert all(len(line) <= 100 for line in footnote)


def test_a_sweep_writes_one_report_covering_every_point_and_logs_it(three):
    cwd, stdout = three
    sweep_id, points, _ = _sweep_table(stdout)
    path = re.search(r"^Sweep report: (\S+)", stdout, re.M).group(1)
    page = Path(path).read_text(encoding="utf-8")
    parsed = _Page()
    parsed.feed(page)
    assert [label for label, _ in parsed.groups] == list(points)
    assert all(arms == ["control", "treatment"] for _, arms in parsed.groups)
    assert parsed.sections == [(f"point-{i + 1}", p) for i, p in enumerate(points)]
    assert not parsed.tags & {"script", "link", "img", "iframe"}  # nothing runs or is fetched
    runs = local_runs(cwd)
    parents = audit_parents(runs)
    assert len(parents) == 3
    assert len(runs) == 3 + 3 * 2 * 2 + 1  # audits, arm x replicate runs, the sweep's run
    [sweep] = [r for r in runs if r.data.tags.get("mode") == "sweep"]
    assert sweep.data.tags["sweep"] == sweep_id
    client = local_client(cwd)
    stored = {a.path for a in client.list_artifacts(sweep.info.run_id)}
    assert stored == {"report.html", "comparison.txt"}
    assert sweep.data.tags["command"].startswith("ampaudit run --multirun recommender=random,")
    members = {
        p.data.tags["recommender"]: json.loads(p.data.tags[f"sweep.{sweep_id}"]) for p in parents
    }
    assert members == {
        r: {"job": i, "overrides": [f"recommender={r}", *members[r]["overrides"][1:]]}
        for i, r in enumerate(RECOMMENDERS)
    }


def _report(capsys, *args):
    """``ampaudit report ARGS`` in this process: (exit code, stdout, stderr)."""
    from ampaudit.cli import main

    code = main(["report", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_report_chooses_one_audit_or_compares_them_all(three, three_table, tmp_path, capsys):
    cwd, stdout = three
    sweep_id, _, _ = _sweep_table(stdout)
    uri = ["--uri", f"sqlite:///{cwd / 'mlflow.db'}"]
    ids = {p.data.tags["recommender"]: p.info.run_id for p in audit_parents(local_runs(cwd))}
    # one audit of the table, by a prefix of its run id
    code, _, err = _report(
        capsys, three_table, "--audit", ids["mf"][:10], "-o", tmp_path / "1.html"
    )
    assert code == 0, err
    page = (tmp_path / "1.html").read_text()
    assert "<title>Amplification audit: mf against chronological</title>" in page
    # no audit chosen in a table of three: all three, compared, and said on stderr
    code, _, err = _report(capsys, three_table, "-o", tmp_path / "all.html")
    assert code == 0, err
    assert "holds 3 audits: comparing them all (--audit ID reports one)" in err
    parsed = _Page()
    parsed.feed((tmp_path / "all.html").read_text())
    labels = [f"recommender={r}" for r in RECOMMENDERS]
    assert sorted(label for label, _ in parsed.groups) == sorted(labels)
    # an experiment still means its latest audit, and says which and how to choose
    code, _, err = _report(capsys, "ampaudit", "-o", tmp_path / "latest.html", *uri)
    assert code == 0, err
    assert f"reporting the latest, {ids['mf']}" in err
    assert "--audit ID" in err
    # one sweep's audits, by a prefix of its id, from the store or the table
    for target in ("ampaudit", three_table):
        code, _, err = _report(
            capsys, target, "--sweep", sweep_id[:6], "-o", tmp_path / "s.html", *uri
        )
        assert code == 0, err
        parsed = _Page()
        parsed.feed((tmp_path / "s.html").read_text())
        assert [label for label, _ in parsed.groups] == labels  # in sweep order


@pytest.mark.parametrize("target", ["table", "experiment"])
@pytest.mark.parametrize("option", ["--audit", "--sweep"])
def test_an_unknown_audit_or_sweep_is_one_line_listing_the_choices(
    three, three_table, tmp_path, capsys, target, option
):
    cwd, _ = three
    where = three_table if target == "table" else "ampaudit"
    args = [where, option, "nope", "-o", tmp_path / "r.html", "--uri", cwd / "mlflow.db"]
    if (target, option) == ("table", "--audit"):  # once as a real process: nothing else printed
        proc = ampaudit("report", *args)
        code, err = proc.returncode, proc.stderr
    else:
        code, _, err = _report(capsys, *args)
    assert code == 2
    [line] = err.strip().splitlines()
    assert line.startswith(f"ampaudit: error: {option} 'nope' matches no")
    if option == "--audit":
        assert all(p.info.run_id in line for p in audit_parents(local_runs(cwd)))
    else:
        assert "(3 audits)" in line
    assert not (tmp_path / "r.html").exists()


def test_export_matches_what_mlflow_holds(swept, tmp_path):
    out = tmp_path / "export.parquet"
    proc = ampaudit(
        "export",
        "ampaudit",
        "-o",
        str(out),
        "--uri",
        f"sqlite:///{swept / 'mlflow.db'}",
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    table = pd.read_parquet(out)
    keys = ["audit", "arm", "replicate", "metric", "step"]
    assert not table.duplicated(keys).any()  # one row per (job, metric, step)
    client = local_client(swept)
    exp = client.get_experiment_by_name("ampaudit")
    child = client.search_runs([exp.experiment_id], "tags.arm = 'treatment'", max_results=1)[0]
    parent = child.data.tags["mlflow.parentRunId"]
    history = sorted(
        client.get_metric_history(child.info.run_id, "cons_share.extreme"), key=lambda m: m.step
    )
    rows = table[
        (table.audit == parent)
        & (table.arm == "treatment")
        & (table.replicate == int(child.data.tags["replicate"]))
        & (table.metric == "cons_share.extreme")
    ].sort_values("step")
    assert rows["value"].tolist() == pytest.approx([m.value for m in history])


def test_export_of_a_missing_experiment_is_one_clear_error(tmp_path):
    proc = ampaudit(
        "export",
        "nope",
        "-o",
        str(tmp_path / "x.csv"),
        "--uri",
        f"sqlite:///{tmp_path / 'mlflow.db'}",
        timeout=300,
    )
    assert proc.returncode == 2
    assert "experiment 'nope' not found" in proc.stderr


def _sweep(cwd, *extra, launcher="basic"):
    return ampaudit(
        "run",
        "--multirun",
        f"hydra/launcher={launcher}",
        "recommender=random,popularity",
        "world=small",
        "audit.n_steps=5",
        "audit.replicates=2",
        "audit.progress=false",
        "seed=21",
        *extra,
        cwd=cwd,
        timeout=600,
    )


def _exported(cwd):
    """The sweep's tidy export, sorted, with audits identified by name."""
    out = cwd / "export.parquet"
    proc = ampaudit(
        "export", "ampaudit", "-o", out, "--uri", f"sqlite:///{cwd / 'mlflow.db'}", timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    table = pd.read_parquet(out)
    table = table.assign(audit=table["audit_name"]).drop(columns=["audit_name"])
    keys = ["audit", "arm", "replicate", "metric", "step"]
    return table.sort_values(keys).reset_index(drop=True)


def _create_store(cwd):
    """Create the store and experiment before a run starts: polling a database that
    the run is still creating races MLflow's schema setup in two processes
    (REFERENCES, "SQLite races")."""
    from ampaudit.tracking import MlflowTracker

    MlflowTracker(f"sqlite:///{cwd / 'mlflow.db'}", "ampaudit")


def _audit_runs(cwd):
    """Every run of the local store but the sweeps' own."""
    return [r for r in local_runs(cwd) if r.data.tags.get("mode") != "sweep"]


def test_rerunning_a_sweep_skips_finished_audits(tmp_path):
    first = _sweep(tmp_path)
    assert first.returncode == 0
    before = len(_audit_runs(tmp_path))
    again = _sweep(tmp_path)
    assert again.returncode == 0
    assert again.stdout.count("Already finished") == 2
    assert len(_audit_runs(tmp_path)) == before
    # the skipped audits are the second sweep's points too: its table covers them
    ids = [re.search(r"^Sweep (\w+): 2 audits", p.stdout, re.M).group(1) for p in (first, again)]
    assert ids[0] != ids[1]
    for parent in audit_parents(local_runs(tmp_path)):
        assert parent.data.tags["sweep"] == ids[0]  # the sweep that ran it
        assert {f"sweep.{ids[0]}", f"sweep.{ids[1]}"} <= parent.data.tags.keys()
    forced = _sweep(tmp_path, "tracking.skip_finished=false")
    assert forced.returncode == 0
    assert len(_audit_runs(tmp_path)) == 2 * before


def test_same_sweep_gives_identical_metrics_under_basic_joblib_and_submitit(tmp_path):
    tables = {}
    for launcher in ("basic", "joblib", "submitit_local"):
        cwd = tmp_path / launcher
        cwd.mkdir()
        assert _sweep(cwd, launcher=launcher).returncode == 0
        tables[launcher] = _exported(cwd)
    pd.testing.assert_frame_equal(tables["basic"], tables["joblib"])
    pd.testing.assert_frame_equal(tables["basic"], tables["submitit_local"])


def test_a_terminated_audit_ends_killed_not_running(tmp_path):
    import signal
    import time

    _create_store(tmp_path)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ampaudit.cli",
            "run",
            "world.n_users=3000",
            "audit.n_steps=400",
            "audit.replicates=1",
            "audit.progress=false",
            "seed=5",
            "recommender=popularity",
        ],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait until the audit has opened its runs
        if len(local_runs(tmp_path)) >= 2:
            break
        assert proc.poll() is None, "the audit ended before it could be stopped"
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    statuses = {r.info.status for r in local_runs(tmp_path)}
    assert "RUNNING" not in statuses
    assert "KILLED" in statuses


def test_ray_launcher_gives_the_same_metrics_as_basic(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_ray_launcher", reason="install the ray extra")
    tables = {}
    for launcher, extra in (("basic", ()), ("ray", ("+hydra.launcher.ray.init.num_cpus=2",))):
        cwd = tmp_path / launcher
        cwd.mkdir()
        proc = _sweep(cwd, *extra, launcher=launcher)
        assert proc.returncode == 0, proc.stderr[-2000:]
        tables[launcher] = _exported(cwd)
    pd.testing.assert_frame_equal(tables["basic"], tables["ray"])


def test_killing_a_sweep_then_rerunning_completes_only_the_missing_audits(tmp_path):
    import signal
    import time

    args = [
        sys.executable,
        "-m",
        "ampaudit.cli",
        "run",
        "--multirun",
        "recommender=random,popularity",
        "world.n_users=2000",
        "audit.n_steps=150",
        "audit.replicates=1",
        "audit.progress=false",
        "seed=8",
    ]
    _create_store(tmp_path)
    proc = subprocess.Popen(
        args, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # stop once the first audit is done, mid-second
        parents = audit_parents(local_runs(tmp_path))
        if any(p.info.status == "FINISHED" for p in parents) and len(parents) == 2:
            break
        assert proc.poll() is None, "the sweep ended before it could be stopped"
        time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    parents = audit_parents(local_runs(tmp_path))
    assert sorted(p.info.status for p in parents) == ["FINISHED", "KILLED"]
    rerun = subprocess.run(
        args, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False
    )
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert rerun.stdout.count("Already finished") == 1
    parents = audit_parents(local_runs(tmp_path))
    assert sorted(p.info.status for p in parents) == ["FINISHED", "FINISHED", "KILLED"]
    assert "RUNNING" not in {r.info.status for r in local_runs(tmp_path)}
