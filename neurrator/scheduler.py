"""Where a grid of independent points runs: in this process, on a Dask cluster on this machine, on an
existing Dask scheduler, or on a batch cluster (SLURM, PBS, LSF, SGE, ... through ``dask-jobqueue``).

One choice, named the same everywhere (``neurrator sweep --scheduler/--cluster`` and the ``scheduler``
parameter of notebooks with a grid):

- ``None`` or ``"inprocess"``: a plain loop in this process (the book's and the tests' default);
- ``"local"``: a ``distributed.LocalCluster`` on this machine, one single-threaded worker process per core
  (or ``workers``);
- ``"tcp://host:8786"``: an existing Dask scheduler;
- a batch cluster: :func:`batch_cluster` (``kind`` = ``"slurm"``, ``"pbs"``, ...), whose jobs each start
  one worker with the cores, memory, GPUs and walltime asked for.

:func:`map_grid` maps a top-level function over the points and returns results in point order.
Large read-only inputs (``shared``) go to the cluster once, not once per point; expensive objects such as a 7-billion-
parameter narrator are built on each worker at most once (``per_worker`` factories, kept on the
worker: :func:`worker_local`), never once per point.
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Any, Callable, Iterator, Mapping, Sequence

from tqdm.auto import tqdm

#: dask-jobqueue's cluster class per batch system
BATCH_KINDS = {"slurm": "SLURMCluster", "pbs": "PBSCluster", "lsf": "LSFCluster", "sge": "SGECluster",
               "htcondor": "HTCondorCluster", "moab": "MoabCluster", "oar": "OARCluster"}
INPROCESS = (None, "", "inprocess")


def _batch_options(kind: str, cores: int, memory: str, gpus: int, walltime: str | None,
                   job_extra_directives: Sequence[str] | str = (), **extra: Any) -> dict:
    """dask-jobqueue keyword arguments: one worker process with **one thread** per job (one point at a time,
    with every core of the job: SLURM reserves ``cores`` CPUs through ``job_cpu``), GPUs as a job directive
    (SLURM's ``--gres``) and as a worker resource ``GPU`` (so a task asking for ``{"GPU": 1}`` gets its own)."""
    if kind not in BATCH_KINDS:
        raise ValueError(f"unknown cluster kind {kind!r}: choose from {', '.join(BATCH_KINDS)}")
    if "processes" in extra:
        raise ValueError("each job runs one worker process (processes=1); ask for more jobs instead")
    directives = [job_extra_directives] if isinstance(job_extra_directives, str) else list(job_extra_directives)
    worker_args = list(extra.pop("worker_extra_args", []))
    if gpus:
        if kind == "slurm":
            directives.append(f"--gres=gpu:{gpus}")
        elif not directives:
            raise ValueError(f"how a {kind} job asks for GPUs differs between sites: pass the directive in "
                             "job_extra_directives (e.g. PBS '-l ngpus=1'), as well as gpus")
        worker_args += ["--resources", f"GPU={gpus}"]
    threads = dict(cores=1, job_cpu=cores) if kind == "slurm" else dict(cores=cores)
    options = dict(**threads, memory=memory, processes=1, job_extra_directives=directives,
                   worker_extra_args=worker_args, **extra)
    if walltime:
        options["walltime"] = walltime
    return options


def batch_cluster(kind: str, *, cores: int = 1, memory: str = "16GB", gpus: int = 0, walltime: str | None = None,
                  jobs: int = 1, **extra: Any):
    """A started dask-jobqueue cluster of ``jobs`` jobs (``kind``: slurm, pbs, lsf, sge, htcondor, moab, oar)."""
    import dask_jobqueue

    options = _batch_options(kind, cores, memory, gpus, walltime, **extra)   # checks kind
    cluster = getattr(dask_jobqueue, BATCH_KINDS[kind])(**options)
    cluster.scale(jobs=jobs)
    return cluster


def job_script(kind: str, *, cores: int = 1, memory: str = "16GB", gpus: int = 0, walltime: str | None = None,
               scheduler_address: str = "tcp://scheduler:8786", **extra: Any) -> str:
    """The batch script one job of :func:`batch_cluster` would submit, rendered without starting anything."""
    import dask_jobqueue

    options = _batch_options(kind, cores, memory, gpus, walltime, **extra)   # checks kind
    job_class = getattr(dask_jobqueue, BATCH_KINDS[kind]).job_cls
    return job_class(scheduler=scheduler_address, name="neurrator-worker", **options).job_script()


@contextlib.contextmanager
def client_for(scheduler: str | None = None, *, cluster: str | None = None, workers: int | None = None,
               connect_timeout: str = "10s", **batch: Any) -> Iterator[Any]:
    """A ``distributed.Client`` for the choice (see the module docstring), closed afterwards; ``None``
    for an in-process loop. An address that does not answer within ``connect_timeout`` is a ValueError
    naming it."""
    if cluster is not None:
        from distributed import Client

        with batch_cluster(cluster, **batch) as started, Client(started) as client:
            yield client
        return
    if scheduler in INPROCESS:
        yield None
        return
    from distributed import Client, LocalCluster

    if scheduler == "local":
        n = workers or os.cpu_count() or 1
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None) as local, \
                Client(local) as client:
            yield client
        return
    if not str(scheduler).startswith(("tcp://", "tls://", "inproc://", "ucx://")):
        raise ValueError(f"scheduler must be None/'inprocess', 'local' or a Dask scheduler address like "
                         f"'tcp://host:8786', got {scheduler!r}")
    try:
        client = Client(scheduler, timeout=connect_timeout)
    except (OSError, TimeoutError) as err:   # distributed raises OSError (or TimeoutError) for an address it cannot reach
        raise ValueError(f"cannot reach the Dask scheduler at {scheduler} within {connect_timeout} ({type(err).__name__}): "
                         f"start it (dask scheduler) or leave --scheduler out to run here") from None
    with client:
        yield client


_BUILD_LOCK = threading.Lock()


def worker_local(name: str, factory: Callable[[], Any], store: dict | None = None) -> Any:
    """``factory()`` built once per Dask worker (kept on the worker object) or once per ``store`` outside
    one. Keyed by ``name`` and the factory's content (``dask.base.tokenize``), so another model on a
    long-lived worker is built anew, never mistaken for the old one; built under a lock, so threads of
    one worker never build it twice at once."""
    from dask.base import tokenize

    try:
        from distributed import get_worker

        store = get_worker().__dict__.setdefault("_neurrator_local", {})
    except (ImportError, ValueError):
        if store is None:
            raise RuntimeError("worker_local outside a Dask worker needs a store (a dict kept by the caller)") from None
    key = (name, tokenize(factory))
    with _BUILD_LOCK:
        if key not in store:
            store[key] = factory()
    return store[key]


def _call(func: Callable, point: Any, per_worker: Mapping[str, Callable[[], Any]], shared: Mapping[str, Any]) -> Any:
    built = {name: worker_local(name, factory) for name, factory in per_worker.items()}
    return func(point, **shared, **built)


def map_grid(func: Callable, points: Sequence[Any], *, client=None, shared: Mapping[str, Any] | None = None,
             per_worker: Mapping[str, Callable[[], Any]] | None = None, resources: Mapping[str, float] | None = None,
             desc: str = "grid", progress: bool = True, return_exceptions: bool = False) -> list:
    """``[func(point, **shared, **per_worker objects) for point in points]``, in point order.

    Without ``client`` it is that loop, here (each ``per_worker`` factory called once). With a
    ``distributed.Client``, each ``shared`` value is sent to the cluster once (one future per value),
    each worker builds the ``per_worker`` objects the first time it needs them, and every point is one
    task (``resources``, e.g. ``{"GPU": 1}``, reserves what a task needs on its worker). ``func`` must be
    importable by the workers (a module-level function). A failing point does not stop the others: its
    exception is raised once all have finished, or returned in its place with ``return_exceptions``.
    """
    shared, per_worker = dict(shared or {}), dict(per_worker or {})
    points = list(points)
    if client is None:
        local: dict = {}
        results, first_error = [], None
        for point in tqdm(points, desc=desc, unit="point", disable=not progress):
            try:
                built = {name: worker_local(name, factory, store=local) for name, factory in per_worker.items()}
                results.append(func(point, **shared, **built))
            except Exception as err:   # noqa: BLE001 - reported after the other points, as on a cluster
                if not return_exceptions and first_error is None:
                    first_error = err
                results.append(err)
        if first_error is not None:
            raise first_error
        return results
    from distributed import as_completed

    if shared:
        client.wait_for_workers(1)       # scattering needs a worker (batch jobs may still be queued)
    scattered = {name: client.scatter([value], hash=False)[0] for name, value in shared.items()}
    futures = [client.submit(_call, func, point, per_worker, scattered, pure=False, resources=dict(resources or {}) or None)
               for point in points]
    for _ in tqdm(as_completed(futures), total=len(futures), desc=desc, unit="point", disable=not progress):
        pass
    results = []
    for future in futures:
        if future.status == "error":
            if not return_exceptions:
                future.result()          # raises the first failure with its remote traceback
            results.append(future.exception())
        else:
            results.append(future.result())
    return results
