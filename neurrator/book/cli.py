"""Command line: ``neurrator run`` (the notebook chain), ``neurrator sweep`` (the chain over a parameter
grid, on Dask), ``neurrator env`` (what this machine has) and ``neurrator simulate`` (the demo world as
an Allen cache)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from neurrator.config import find_project_root


def _project_root(args: argparse.Namespace) -> Path | None:
    """``--project`` or the project above the working directory; None (with an error printed) outside one."""
    root = Path(args.project) if args.project else find_project_root()
    if root is None:
        print("error: not inside the neurrator project (no _toc.yml + pyproject.toml above here); use --project", file=sys.stderr)
    return root


def _run(args: argparse.Namespace) -> int:
    from neurrator.book.runner import NotebookFailed, UnknownParameter, chain_sources, parse_parameters, run_chain

    root = _project_root(args)
    if root is None:
        return 2
    try:
        params = parse_parameters(args.parameter or [], args.parameters_file)
        if args.data_dir:
            params["data_dir"] = str(Path(args.data_dir).resolve())
        sources = chain_sources(root, args.notebooks)
        run_name = args.name or str(params.get("profile", "demo"))
        results = run_chain(
            sources, params, run_name=run_name, runs_dir=Path(args.runs_dir) if args.runs_dir else root / "runs",
            publish_dir=(root / "book") if args.publish else None, cwd=root, progress=not args.quiet,
        )
    except (NotebookFailed, UnknownParameter, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    total = sum(r.seconds for r in results)
    print(f"ran {len(results)} notebook(s) in {total:.1f} s")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    import yaml

    from neurrator.book.runner import UnknownParameter, chain_sources, parse_parameters
    from neurrator.book.sweep import sweep

    root = _project_root(args)
    if root is None:
        return 2
    try:
        grid = yaml.safe_load(Path(args.grid).read_text()) or {}
        if not isinstance(grid, dict):
            raise ValueError(f"{args.grid} must be a mapping of parameter names to values or lists of values")
        fixed = parse_parameters(args.parameter or [], args.parameters_file)
        if args.data_dir:
            fixed["data_dir"] = str(Path(args.data_dir).resolve())
        batch = (yaml.safe_load(Path(args.cluster_options).read_text()) or {}) if args.cluster_options else {}
        if not isinstance(batch, dict):
            raise ValueError(f"{args.cluster_options} must be a mapping of dask-jobqueue options")
        batch.update({k: v for k, v in dict(cores=args.cores, memory=args.memory, gpus=args.gpus, walltime=args.walltime,
                                            jobs=args.jobs, queue=args.queue, account=args.account).items() if v is not None})
        summary = sweep(chain_sources(root, args.notebooks), grid, fixed=fixed, name=args.name or Path(args.grid).stem,
                        runs_dir=Path(args.runs_dir) if args.runs_dir else root / "runs", project_root=root,
                        scheduler=args.scheduler or ("inprocess" if args.data_dir else "local"), workers=args.workers, cluster=args.cluster, batch=batch,
                        retry_failed=args.retry_failed, progress=not args.quiet)
    except (UnknownParameter, FileNotFoundError, ValueError, yaml.YAMLError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    counts = summary.outcomes["status"].value_counts()
    print(f"{len(summary.outcomes)} point(s): " + ", ".join(f"{n} {status}" for status, n in counts.items()))
    print(f"outcomes: {summary.folder / 'outcomes.csv'}; headline numbers of every point: {summary.folder / 'results.csv'}")
    for _, row in summary.failed.iterrows():
        print(f"failed: {row['point']}: {row['error'].splitlines()[0] if row['error'] else ''} (log: {row['log']})", file=sys.stderr)
    return 1 if len(summary.failed) else 0


def _env(args: argparse.Namespace) -> int:
    from neurrator.config import resolve_data_dir
    from neurrator.book.environment import machine_summary, package_versions

    for key, value in machine_summary().items():
        print(f"{key:>14}: {value}")
    print(f"{'data dir':>14}: {resolve_data_dir(create=False)}")
    print(package_versions().to_string(index=False))
    return 0


def _simulate(args: argparse.Namespace) -> int:
    import time

    from neurrator.layout import DataLayout
    from neurrator.world.simulate import WorldConfig, simulate_world

    sizes = {k: v for k, v in dict(
        genotypes=tuple(args.genotypes) if args.genotypes else None, units_per_session=args.units,
        movie_one_repeats=args.movie_one_repeats, movie_three_repeats=args.movie_three_repeats,
        movie_three_frames=args.movie_three_frames, scene_repeats=args.scene_repeats, seed=args.seed).items()
        if v is not None}
    start = time.perf_counter()
    try:
        config = WorldConfig.paper_scale(**sizes) if args.paper_scale else WorldConfig(**sizes)
        cache_dir = args.cache_dir or DataLayout.resolve(profile="demo").allen_cache
        manifest = simulate_world(cache_dir, config, progress=not args.quiet)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"simulated {len(config.genotypes)} session(s) in {time.perf_counter() - start:.1f} s -> {manifest}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="neurrator", description="Neurrator: can neurons speak?")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="execute the notebook chain with papermill")
    run.add_argument("notebooks", nargs="*", help="notebooks to run (stems like 03_train, prefixes like 03, or .py paths); default: all, in _toc.yml order")
    run.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"), help="set a notebook parameter (value parsed as YAML); repeatable")
    run.add_argument("-f", "--parameters-file", metavar="YAML", help="YAML file of parameters (-p overrides it)")
    run.add_argument("--name", help="run name: outputs go to <runs dir>/<name>/ (default: the profile)")
    run.add_argument("--runs-dir", help="where run folders go (default: runs/ in the project)")
    run.add_argument("--data-dir", help="data directory (sets the data_dir parameter; default $NEURRATOR_DATA or ./data)")
    run.add_argument("--publish", action="store_true", help="refresh book/*.ipynb with the executed notebooks")
    run.add_argument("--project", help="project root (default: found above the working directory)")
    run.add_argument("-q", "--quiet", action="store_true", help="no per-cell progress bar")
    run.set_defaults(func=_run)

    sw = sub.add_parser("sweep", help="run the chain (or some notebooks) once per point of a parameter grid, on Dask")
    sw.add_argument("notebooks", nargs="*", help="notebooks of each point (as for run); default: the whole chain")
    sw.add_argument("-g", "--grid", required=True, metavar="YAML", help="parameter grid: lists are crossed, other values fixed")
    sw.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"), help="a fixed parameter (YAML value)")
    sw.add_argument("-f", "--parameters-file", metavar="YAML", help="fixed parameters from YAML (the grid overrides them)")
    sw.add_argument("--name", help="sweep name: points go to <runs dir>/<name>/<point>/ (default: the grid file's stem)")
    sw.add_argument("--runs-dir", help="where sweep folders go (default: runs/ in the project)")
    sw.add_argument("--data-dir", help="one data directory shared by every point, run one after the other "
                                       "(default: one per point, inside its folder)")
    sw.add_argument("--scheduler", help="'local' (a LocalCluster, one worker per core; the default), 'inprocess' (the default "
                                         "with --data-dir), "
                                                      "or the address of a running Dask scheduler (tcp://host:8786)")
    sw.add_argument("--workers", type=int, help="workers of the local cluster (default: one per core)")
    sw.add_argument("--cluster", choices=["slurm", "pbs", "lsf", "sge", "htcondor", "moab", "oar"],
                    help="submit workers as batch jobs through dask-jobqueue (overrides --scheduler)")
    sw.add_argument("--cluster-options", metavar="YAML", help="dask-jobqueue options for each job (the flags below override)")
    sw.add_argument("--cores", type=int, help="cores per job")
    sw.add_argument("--memory", help="memory per job, e.g. 64GB")
    sw.add_argument("--gpus", type=int, help="GPUs per job; each point then reserves one")
    sw.add_argument("--walltime", help="walltime per job, e.g. 04:00:00")
    sw.add_argument("--jobs", type=int, help="number of jobs (workers) to start")
    sw.add_argument("--queue", help="queue / partition")
    sw.add_argument("--account", help="account / project to charge")
    sw.add_argument("--retry-failed", action="store_true", help="run again the points that failed before")
    sw.add_argument("--project", help="project root (default: found above the working directory)")
    sw.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    sw.set_defaults(func=_sweep)

    sim = sub.add_parser("simulate", help="simulate the demo world and write it as an Allen cache")
    sim.add_argument("--cache-dir", help="where to write the cache (default: <data dir>/demo/allen_cache)")
    sim.add_argument("--genotypes", nargs="+", metavar="G", help="one session per entry: wt, Pvalb, Sst, Vip (default: 2 of each)")
    sim.add_argument("--units", type=int, help="units per session")
    sim.add_argument("--movie-one-repeats", type=int)
    sim.add_argument("--movie-three-repeats", type=int)
    sim.add_argument("--movie-three-frames", type=int)
    sim.add_argument("--scene-repeats", type=int)
    sim.add_argument("--paper-scale", action="store_true", help="about 2000 units; 20 / 10 / 50 repeats; 3600-frame movie three")
    sim.add_argument("--seed", type=int)
    sim.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sim.set_defaults(func=_simulate)

    env = sub.add_parser("env", help="print versions, device and data directory")
    env.set_defaults(func=_env)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
