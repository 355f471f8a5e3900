"""Side-by-side benchmark: ours against the offline peers, alternately, in one run.

Builds the held-out corpus (``bench/corpus.py``), installs every peer in its own virtual
environment under ``bench/.cache/venvs`` (pip from PyPI), then for each round runs every system
in a fresh subprocess per measurement (cold start, batch, single calls), rotating the order,
plus ``moderation score`` end to end with one process and ``--workers 2`` when the CLI has
that option. Prints the ratios ours / peer, writes the raw figures to ``bench/results/`` and
renders ``docs/benchmarks.md``. Example::

    python bench/run.py --rounds 5                  # side by side only
    python bench/run.py --rounds 0 --scale 1 10 100 # scaling only

Each part writes its own results file; ``docs/benchmarks.md`` is rendered from both. The
scaling run happens only when ``--scale`` names its sizes, and refuses to overwrite a scaling
results file holding a size it would not measure (``--replace-scaling`` allows it): a short
run must not silently drop the 100x row of an earlier one.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import threading
import time
import venv
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as ``python bench/run.py`` from anywhere
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from bench import corpus as bench_corpus  # noqa: E402
from bench import report  # noqa: E402

BENCH = ROOT / "bench"
WORKER = BENCH / "worker.py"
#: Each peer's exact pip requirements: what was measured is what gets installed.
PEERS: dict[str, tuple[str, ...]] = {
    report.ALTPROF: ("alt-profanity-check==1.9.1",),
    report.HATESONAR: ("hatesonar==0.1.0",),
}
#: Packages whose versions the report lists, per system.
REPORTED_PACKAGES = (
    "alt-profanity-check", "hatesonar", "moderation", "scikit-learn", "numpy", "scipy",
    "pandas", "onnxruntime", "joblib",
)  # fmt: skip


class BenchError(RuntimeError):
    """A step of the benchmark failed; the message says which and shows the child's error."""


@dataclass(frozen=True)
class Child:
    """What one measured subprocess did.

    ``rss_mb`` is the peak resident size (VmHWM) of the largest process in the child's tree,
    ``tree_rss_mb`` the peak of the tree's summed resident size (they differ with workers).
    """

    seconds: float
    rss_mb: float
    tree_rss_mb: float
    ready_seconds: float | None
    stdout: str


class MemoryWatch:
    """Polls ``/proc`` for the peak memory of a process and its descendants.

    ``ru_maxrss`` cannot be used: a child forked from this (large) process inherits its
    high-water mark across ``exec``. VmHWM is per address space and starts afresh at ``exec``;
    it only grows, so the last reading before exit is the process's peak up to ``interval``.
    """

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.pid = pid
        self.interval = interval
        self.hwm_kb: dict[int, int] = {}
        self.tree_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        total = 0
        for pid in _tree(self.pid):
            status = _status_kb(pid)
            if status:
                self.hwm_kb[pid] = max(self.hwm_kb.get(pid, 0), status.get("VmHWM", 0))
                total += status.get("VmRSS", 0)
        self.tree_kb = max(self.tree_kb, total)

    def stop(self) -> tuple[float, float]:
        """Stop polling; the peak of the largest process and of the tree, in MB."""
        self._stop.set()
        self._thread.join()
        return max(self.hwm_kb.values(), default=0) / 1024, self.tree_kb / 1024


def _tree(pid: int) -> list[int]:
    """``pid`` and its living descendants (Linux ``/proc/PID/task/TID/children``)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:  # a process may exit between the listing and the read
            tasks = list(Path(f"/proc/{current}/task").glob("*/children"))
        except OSError:
            continue
        for task in tasks:
            try:
                todo += [int(c) for c in task.read_text().split()]
            except OSError:
                continue
    return found


def _status_kb(pid: int) -> dict[str, int]:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    return {
        key: int(rest.split()[0])
        for key, _, rest in (line.partition(":") for line in lines)
        if key in ("VmHWM", "VmRSS")
    }


def run_child(
    cmd: Sequence[str], env: dict[str, str] | None = None, *, ready: str | None = None
) -> Child:
    """Run ``cmd``; return its wall time, peak memory and, with ``ready``, when it printed
    that line (stdout is read line by line, so the line is seen as soon as it is flushed)."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=err, text=True)
        watch = MemoryWatch(proc.pid)
        assert proc.stdout is not None
        ready_at = None
        if ready is not None:
            for line in proc.stdout:
                if line.strip() == ready:
                    ready_at = time.perf_counter() - start
                    break
        out = proc.stdout.read()
        proc.wait()
        seconds = time.perf_counter() - start
        rss, tree = watch.stop()
        proc.stdout.close()
        if proc.returncode != 0:
            err.seek(0)
            tail = err.read().decode("utf-8", "replace")[-3000:]
            raise BenchError(f"{shlex.join(cmd)} exited with {proc.returncode}:\n{tail}")
    if ready is not None and ready_at is None:
        raise BenchError(f"{shlex.join(cmd)} never printed {ready}")
    return Child(seconds, rss, tree, ready_at, out)


# --------------------------------------------------------------------------- environments


def venv_python(path: Path) -> Path:
    return path / "bin" / "python"


def ensure_venv(path: Path, requirements: Sequence[str], *, editable: Path | None = None) -> Path:
    """A virtual environment at ``path`` with ``requirements`` (and ``editable`` installed -e).

    Reused when a marker records the same requirements; rebuilt otherwise.
    """
    wanted = json.dumps({"requirements": list(requirements), "editable": str(editable or "")})
    if editable is not None:
        wanted += hashlib.sha256((editable / "pyproject.toml").read_bytes()).hexdigest()
    marker = path / ".bench-requirements"
    if marker.is_file() and marker.read_text(encoding="utf-8") == wanted:
        return venv_python(path)
    print(f"installing {path.name} into {path} ...", flush=True)
    venv.EnvBuilder(clear=True, with_pip=True).create(path)
    args = [str(venv_python(path)), "-m", "pip", "install", "--quiet", *requirements]
    if editable is not None:
        args += ["-e", str(editable)]
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"pip install into {path} failed:\n{done.stderr[-3000:]}")
    marker.write_text(wanted, encoding="utf-8")
    return venv_python(path)


def build_locale(target: Path) -> Path:
    """Compile ``en_US.UTF-8`` into ``target`` (for ``LOCPATH``): hatesonar's ONNX model asks for
    that locale by name and most containers ship only ``C.UTF-8``."""
    if (target / "en_US.UTF-8" / "LC_CTYPE").is_file():
        return target
    target.mkdir(parents=True, exist_ok=True)
    # localedef exits 1 on harmless warnings; the compiled files are what matters.
    subprocess.run(
        ["localedef", "-i", "en_US", "-f", "UTF-8", str(target / "en_US.UTF-8")],
        capture_output=True,
        check=False,
    )
    if not (target / "en_US.UTF-8" / "LC_CTYPE").is_file():
        raise BenchError(f"localedef could not build en_US.UTF-8 into {target}")
    return target


def package_versions(python: Path) -> dict[str, str]:
    done = subprocess.run(
        [str(python), "-m", "pip", "list", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    found = {p["name"].lower(): p["version"] for p in json.loads(done.stdout)}
    return {name: found[name] for name in REPORTED_PACKAGES if name in found}


def machine_info() -> dict[str, Any]:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines()
        if line.startswith("MemTotal")
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024),
        "os": platform.platform(terse=True),
        "python": platform.python_version(),
        "load_start": round(os.getloadavg()[0], 2),
    }


# --------------------------------------------------------------------------- measurements


@dataclass(frozen=True)
class System:
    name: str
    python: Path
    env: dict[str, str]


@dataclass(frozen=True)
class Single:
    """How many single calls to time, and the time after which a slow system stops."""

    calls: int
    seconds: float


def worker(system: System, task: str, corpus: Path, out: Path, single: Single) -> list[str]:
    return [
        str(system.python), str(WORKER), system.name, task, str(corpus), str(out),
        "--single", str(single.calls), "--single-seconds", str(single.seconds),
    ]  # fmt: skip


def measure_round(
    systems: Sequence[System], corpus: Path, single: Single, tmp: Path
) -> dict[str, dict[str, Any]]:
    """Cold start, batch and single calls of every system, each in a fresh process."""
    got: dict[str, dict[str, Any]] = {s.name: {} for s in systems}
    for s in systems:
        child = run_child(worker(s, "cold", corpus, tmp / "unused", single), s.env, ready="READY")
        got[s.name]["cold_s"] = child.ready_seconds
        got[s.name]["cold_rss_mb"] = child.rss_mb
    for s in systems:
        out = tmp / f"{s.name}-batch.json"
        child = run_child(worker(s, "batch", corpus, out, single), s.env)
        data = json.loads(out.read_text(encoding="utf-8"))
        got[s.name]["batch_cps"] = data["n"] / data["seconds"]
        got[s.name]["batch_rss_mb"] = max(child.rss_mb, data.get("vmhwm_mb", 0.0))
        got[s.name]["scores"] = data["scores"]
        if "actions" in data:
            got[s.name]["actions"] = data["actions"]
    for s in systems:
        out = tmp / f"{s.name}-single.json"
        run_child(worker(s, "single", corpus, out, single), s.env)
        latencies = json.loads(out.read_text(encoding="utf-8"))["latencies_ns"]
        got[s.name]["single_calls"] = len(latencies)
        got[s.name]["p50_us"] = report.percentile(latencies, 50) / 1000
        got[s.name]["p99_us"] = report.percentile(latencies, 99) / 1000
    for s in systems:
        if s.name not in report.EXPLAINED:
            continue
        # The same calls reading the explanation too (ours computes it on first access),
        # in a fresh process like every measurement: the figures above are decision only.
        out = tmp / f"{s.name}-explained.json"
        run_child(worker(s, "explained", corpus, out, single), s.env)
        latencies = json.loads(out.read_text(encoding="utf-8"))["latencies_ns"]
        got[s.name]["explained_calls"] = len(latencies)
        got[s.name]["p50_explained_us"] = report.percentile(latencies, 50) / 1000
        got[s.name]["p99_explained_us"] = report.percentile(latencies, 99) / 1000
    return got


def cli_command(
    moderation: Path, export: Path, out: Path, workers: int, chunk_rows: int | None = None
) -> list[str]:
    cmd = [str(moderation), "score", str(export), "-o", str(out), "--quiet"]
    if chunk_rows is not None:
        cmd += ["--chunk-rows", str(chunk_rows)]
    return [*cmd, "--workers", str(workers)] if workers > 1 else cmd


def has_workers_option(moderation: Path) -> bool:
    """Whether this checkout's ``moderation score`` takes ``--workers`` (measured if so)."""
    done = subprocess.run(
        [str(moderation), "score", "--help"], capture_output=True, text=True, check=True
    )
    return "--workers" in done.stdout


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def auc_table(frame: Any, scores: dict[str, list[float]]) -> dict[str, Any]:
    """Toxicity ROC-AUC of every system: all rows, rows the peers never saw, per source."""
    labels = frame["toxic"].to_numpy()
    sources = frame["source"].to_numpy()
    unseen = ~np.isin(sources, report.PEER_TRAINING_SOURCES)
    out: dict[str, Any] = {}
    for name, values in scores.items():
        s = np.asarray(values, dtype=float)
        ok = ~np.isnan(s)
        entry: dict[str, Any] = {
            "n": int(ok.sum()),
            "positives": int(labels[ok].sum()),
            "n_unseen": int((ok & unseen).sum()),
            "positives_unseen": int(labels[ok & unseen].sum()),
            "all": float(roc_auc_score(labels[ok], s[ok])),
            "unseen": float(roc_auc_score(labels[ok & unseen], s[ok & unseen])),
            "by_source": {},
        }
        for source in sorted(set(sources)):
            rows = ok & (sources == source)
            has_both = len(set(labels[rows])) == 2
            entry["by_source"][str(source)] = {
                "n": int(rows.sum()),
                "positives": int(labels[rows].sum()),
                "auc": float(roc_auc_score(labels[rows], s[rows])) if has_both else float("nan"),
            }
        out[name] = entry
    return out


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", type=Path, default=ROOT.parent / "shared" / "datasets")
    parser.add_argument("--cache", type=Path, default=BENCH / ".cache")
    parser.add_argument("--n", type=int, default=20_000, help="corpus size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--single", type=int, default=1000, help="single calls timed per round")
    parser.add_argument(
        "--single-seconds",
        type=float,
        default=60.0,
        help="a system slower than this for --single calls stops early (at least 200 calls)",
    )
    parser.add_argument(
        "--chunk-rows",
        type=int,
        help="pass --chunk-rows to every `moderation score` run (default: the CLI's own)",
    )
    parser.add_argument(
        "--peers", nargs="*", default=list(PEERS), choices=list(PEERS), help="peers to run"
    )
    parser.add_argument(
        "--ours-python",
        type=Path,
        help="interpreter with this package installed (default: a venv under --cache with "
        "this checkout installed editable)",
    )
    parser.add_argument(
        "--cli-workers", type=int, default=2, help="also time `moderation score --workers N`"
    )
    parser.add_argument(
        "--scale",
        type=int,
        nargs="*",
        default=[],
        metavar="N",
        help="run the scaling run on these corpus multiples, e.g. --scale 1 10 100 (default: "
        "no scaling run; a bare --scale also skips it)",
    )
    parser.add_argument(
        "--replace-scaling",
        action="store_true",
        help="let --scale overwrite a scaling results file that holds sizes it does not measure",
    )
    parser.add_argument(
        "--scale-workers", type=int, default=1, help="--workers for the scaling run"
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=BENCH / "results" / "latest.json",
        help="side-by-side results (written when --rounds > 0, always read for the docs)",
    )
    parser.add_argument(
        "--scaling-results",
        type=Path,
        default=BENCH / "results" / "scaling.json",
        help="scaling results (written when --scale is given, read for the docs if present)",
    )
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "benchmarks.md")
    return parser.parse_args(argv)


def scaling_clash(path: Path, factors: Sequence[int]) -> list[int]:
    """Sizes in the scaling results at `path` that a run of `factors` would drop (sorted)."""
    if not factors or not path.is_file():
        return []
    try:
        saved = json.loads(path.read_text(encoding="utf-8")).get("scaling", [])
        found = {int(s["factor"]) for s in saved}
    except (ValueError, TypeError, KeyError, AttributeError):
        return []  # not a results file we can read: nothing of ours to protect
    return sorted(found - set(factors))


def bundle_name(python: Path) -> str | None:
    """The default model bundle the `moderation` of `python` scores with (None if unknown)."""
    code = "from moderation.bundle import default_bundle_path; print(default_bundle_path().name)"
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False)
    return (done.stdout.strip() or None) if done.returncode == 0 else None


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    dropped = scaling_clash(args.scaling_results, args.scale)
    if dropped and not args.replace_scaling:
        sizes = ", ".join(f"{f}x" for f in dropped)
        print(
            f"{args.scaling_results} holds the {sizes} scaling result(s), which "
            f"--scale {' '.join(map(str, args.scale))} would drop: add those sizes, write "
            "elsewhere with --scaling-results, or pass --replace-scaling",
            file=sys.stderr,
        )
        return 2
    command = shlex.join(["python", "bench/run.py", *(sys.argv[1:] if argv is None else argv)])
    cache: Path = args.cache.resolve()
    venvs = cache / "venvs"

    built = bench_corpus.build_corpus(args.datasets, cache, n=args.n, seed=args.seed)
    print(f"corpus: {len(built.frame)} rows -> {built.path}", flush=True)
    if args.ours_python is None:
        ours_python = ensure_venv(venvs / "ours", (), editable=ROOT)
    else:
        ours_python = args.ours_python
    base_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    moderation = ours_python.parent / "moderation"

    with tempfile.TemporaryDirectory(prefix="bench-", dir=cache) as tmp_name:
        tmp = Path(tmp_name)
        if args.rounds > 0:
            systems = [System(report.OURS, ours_python, base_env)]
            for name in args.peers:
                env = dict(base_env)
                if name == report.HATESONAR:
                    env["LOCPATH"] = str(build_locale(cache / "locale"))
                systems.append(System(name, ensure_venv(venvs / name, PEERS[name]), env))
            results = side_by_side(args, built, systems, moderation, tmp)
            results["command"] = command
            results["bundle"] = bundle_name(ours_python)
            _write_json(args.results, results)
        if args.scale:
            scaling_run(args, built, moderation, base_env, tmp, command, bundle_name(ours_python))

    if not args.results.is_file():
        print(f"no side-by-side results at {args.results}: run with --rounds 1 or more")
        return 0
    results = json.loads(args.results.read_text(encoding="utf-8"))
    scaled: dict[str, Any] | None = None
    if args.scaling_results.is_file():
        scaled = json.loads(args.scaling_results.read_text(encoding="utf-8"))
    args.docs.parent.mkdir(parents=True, exist_ok=True)
    analysis = report.ANALYSIS.read_text(encoding="utf-8") if report.ANALYSIS.is_file() else ""
    args.docs.write_text(report.render(results, scaled, analysis), encoding="utf-8")
    print_summary(results, scaled)
    print(
        f"wrote {args.docs} from {args.results}"
        + (f" and {args.scaling_results}" if scaled else "")
    )
    return 0


def side_by_side(
    args: argparse.Namespace,
    built: bench_corpus.Corpus,
    systems: list[System],
    moderation: Path,
    tmp: Path,
) -> dict[str, Any]:
    """Rounds of every system and of ``moderation score`` (one process and workers), in turn."""
    machine = machine_info()
    versions = {s.name: package_versions(s.python) for s in systems}
    workers = [1]
    if args.cli_workers > 1 and has_workers_option(moderation):
        workers.append(args.cli_workers)
    notes: list[str] = []
    if len(workers) == 1:
        notes.append("`moderation score --workers` does not exist in this checkout: not measured.")
    base_env = systems[0].env
    rounds: dict[str, dict[str, list[float]]] = {s.name: {} for s in systems}
    cli: dict[str, dict[str, list[float]]] = {
        str(w): {"cps": [], "rss_mb": [], "tree_rss_mb": []} for w in workers
    }
    scores: dict[str, list[float]] = {}
    actions: dict[str, int] = {}
    digests: dict[int, set[str]] = {w: set() for w in workers}
    for r in range(args.rounds):
        order = systems[r % len(systems) :] + systems[: r % len(systems)]
        got = measure_round(order, built.path, Single(args.single, args.single_seconds), tmp)
        for name, values in got.items():
            scores.setdefault(name, values.pop("scores"))
            if "actions" in values:
                actions = values.pop("actions")
            for key, value in values.items():
                rounds[name].setdefault(key, []).append(value)
        for w in workers if r % 2 == 0 else workers[::-1]:
            out = tmp / f"cli-{w}.csv"
            cmd = cli_command(moderation, built.export, out, w, args.chunk_rows)
            child = run_child(cmd, base_env)
            cli[str(w)]["cps"].append(len(built.frame) / child.seconds)
            cli[str(w)]["rss_mb"].append(child.rss_mb)
            cli[str(w)]["tree_rss_mb"].append(child.tree_rss_mb)
            digests[w].add(file_digest(out))
        print(f"round {r + 1}/{args.rounds}: " + _round_line(got, cli), flush=True)
    if len(workers) > 1:
        same = digests[1] == digests[workers[1]] and len(digests[1]) == 1
        notes.append(
            f"`--workers {workers[1]}` output was byte-identical to one process in every "
            "round: " + ("yes" if same else "NO")
        )
    machine["load_end"] = round(os.getloadavg()[0], 2)
    example = cli_command(
        Path("moderation"), Path("export.csv"), Path("scored.csv"), max(workers), args.chunk_rows
    )
    return {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "results_file": str(_relative(args.results)),
        "machine": machine,
        "corpus": built.info,
        "single_n": args.single,
        "single_seconds": args.single_seconds,
        "versions": versions,
        "rounds": rounds,
        "cli": cli,
        "cli_command": shlex.join(example),
        "auc": auc_table(built.frame, scores),
        "actions": actions,
        "notes": notes,
    }


def scaling_run(
    args: argparse.Namespace,
    built: bench_corpus.Corpus,
    moderation: Path,
    env: dict[str, str],
    tmp: Path,
    command: str,
    bundle: str | None = None,
) -> dict[str, Any]:
    """``moderation score`` on each multiple of the corpus: wall time and peak memory.

    The results file is rewritten after every size, so an interrupted run keeps what it measured.
    """
    machine = machine_info()
    scaling: list[dict[str, Any]] = []
    for factor in args.scale:
        export = bench_corpus.write_scaled(
            built.frame, factor, args.cache.resolve() / f"export-{len(built.frame)}-x{factor}.csv"
        )
        out = tmp / f"scaled-{factor}.csv"
        cmd = cli_command(moderation, export, out, args.scale_workers, args.chunk_rows)
        child = run_child(cmd, env)
        out.unlink()
        rows = len(built.frame) * factor
        scaling.append(
            {
                "factor": factor,
                "rows": rows,
                "seconds": child.seconds,
                "rss_mb": child.rss_mb,
                "tree_rss_mb": child.tree_rss_mb,
            }
        )
        print(f"scale {factor}x: {rows} rows in {child.seconds:.1f} s, "
              f"{child.tree_rss_mb:.0f} MB", flush=True)  # fmt: skip
        machine["load_end"] = round(os.getloadavg()[0], 2)
        example = cli_command(
            Path("moderation"), Path("export-xN.csv"), Path("scored.csv"), args.scale_workers,
            args.chunk_rows,
        )  # fmt: skip
        done = {
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": command,
            "results_file": str(_relative(args.scaling_results)),
            "machine": machine,
            "corpus": built.info,
            "bundle": bundle,
            "scaling": scaling,
            "scaling_command": shlex.join(example),
        }
        _write_json(args.scaling_results, done)
    return done


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


def _relative(path: Path) -> Path:
    try:
        return path.resolve().relative_to(ROOT)
    except ValueError:
        return path


def _round_line(got: dict[str, dict[str, Any]], cli: dict[str, dict[str, list[float]]]) -> str:
    parts = [
        f"{name} {v['batch_cps']:,.0f}/s p50 {v['p50_us']:,.0f}µs"
        + (f" (explained {v['p50_explained_us']:,.0f}µs)" if "p50_explained_us" in v else "")
        for name, v in got.items()
    ]
    parts += [f"clix{w} {v['cps'][-1]:,.0f}/s" for w, v in cli.items()]
    return "; ".join(parts)


def print_summary(results: dict[str, Any], scaled: dict[str, Any] | None) -> None:
    summary = report.summarise(results, scaled)
    for peer, per in summary["ratios"].items():
        print(f"ours / {peer}:")
        for m in report.MEASURES:
            print(f"  {m.title:<50} {per[m.key]:8.2f}x")
    for t in summary["targets"]:
        print(f"{t['target']:<35} {t['goal']:<45} {t['measured']:<40} {t['verdict']}")


if __name__ == "__main__":
    sys.exit(main())
