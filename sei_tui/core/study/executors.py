"""Where a study's network tasks run: a local process pool (the default) or Dask.

Both run `tasks.run_task` on whole tasks and yield `TaskResult`s as they finish, in any
order: the results do not depend on the executor (each point is simulated by itself,
libsim is deterministic per seed, and everything else happens in the calling process).
`close()` ends the workers at once (SIGINT): tasks in flight are lost, nothing else.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator, Sequence

from sei_tui.core.errors import SeiInputError
from sei_tui.core.study.tasks import (
    NetworkTask,
    RowContext,
    TaskResult,
    install_contexts,
    run_task,
    start_worker,
)

__all__ = ["DaskExecutor", "LocalPool", "make_executor"]


class LocalPool:
    """Worker processes from a fork server (never a fork of the torch-running caller).

    Worker k takes the tasks of part k (its share of the deployments, so its caches of
    tails under loss serve the whole study); a worker whose part is done takes the last
    task of the part with the most left, so no worker idles while work remains."""

    name = "local pool"

    def __init__(self, workers: int):
        self.workers = workers
        self._pools: list = []

    def parts(self) -> int:
        return self.workers

    def start(self) -> None:
        """Start the workers (they import torch and libsim while the caller prepares)."""
        if not self._pools:
            context = multiprocessing.get_context("forkserver")
            self._pools = [context.Pool(1, initializer=start_worker) for _ in range(self.workers)]

    def run(
        self, tasks: Sequence[NetworkTask], contexts: dict[int, RowContext]
    ) -> Iterator[TaskResult]:
        import pickle
        import queue
        from collections import deque

        self.start()
        # every worker receives the contexts once, before its first task (pickled once
        # here for all of them); tasks carry sizes and overrides
        blob = pickle.dumps(contexts, protocol=pickle.HIGHEST_PROTOCOL)
        for pool in self._pools:
            pool.apply_async(install_contexts, (blob,))  # a pool of one runs tasks in order
        del blob
        todo = [deque() for _ in range(self.workers)]
        for task in tasks:
            todo[task.part % self.workers].append(task)
        finished: queue.SimpleQueue = queue.SimpleQueue()

        def give(worker: int) -> bool:
            own = todo[worker]
            if own:
                task = own.popleft()
            else:
                longest = max(todo, key=len)
                if not longest:
                    return False
                task = longest.pop()  # from the end: its owner keeps its order
            self._pools[worker].apply_async(
                run_task,
                (task,),
                callback=lambda r: finished.put((worker, r)),
                error_callback=lambda e: finished.put((worker, e)),
            )
            return True

        running = sum(give(w) for w in range(self.workers))
        while running:
            try:
                worker, result = finished.get(timeout=0.2)  # wakes for SIGINT
            except queue.Empty:
                continue
            running -= 1
            if isinstance(result, BaseException):
                raise result
            running += give(worker)
            yield result

    def close(self) -> None:
        for pool in self._pools:
            pool.terminate()
        for pool in self._pools:
            pool.join()
        self._pools = []


class DaskExecutor:
    """A Dask cluster at `scheduler` (an address), or a local one of `workers` processes."""

    def __init__(self, scheduler: str | None = None, workers: int | None = None):
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise SeiInputError(
                "dask.distributed is not installed (pip install 'dask[distributed]')"
            ) from None
        self._cluster = None
        if scheduler is not None:
            self.name = f"Dask scheduler {scheduler}"
            try:
                self._client = Client(scheduler, timeout="10s")
            except (OSError, TimeoutError) as exc:
                raise SeiInputError(f"--scheduler {scheduler}: cannot connect ({exc})") from None
        else:
            self.name = f"local Dask cluster of {workers} processes"
            self._cluster = LocalCluster(
                n_workers=workers,
                processes=True,
                threads_per_worker=1,
                dashboard_address=None,
            )
            self._client = Client(self._cluster)
        self._futures: list = []

    def parts(self) -> int:
        """One part per worker the cluster has now (at least one)."""
        return max(1, len(self._client.scheduler_info().get("workers", {})))

    def run(
        self, tasks: Sequence[NetworkTask], contexts: dict[int, RowContext]
    ) -> Iterator[TaskResult]:
        from dask.distributed import as_completed

        # the contexts travel once to every worker; each task names them by future
        shared = self._client.scatter(contexts, broadcast=True, hash=False)
        # part k prefers worker k (its tail cache serves the part); others may steal it
        workers = sorted(self._client.scheduler_info().get("workers", {}))
        self._futures = [
            self._client.submit(
                run_task,
                task,
                contexts=shared,
                pure=False,
                workers=[workers[task.part % len(workers)]] if workers else None,
                allow_other_workers=True,
            )
            for task in tasks
        ]
        for future in as_completed(self._futures):
            yield future.result()
            future.release()

    def close(self) -> None:
        if self._futures:
            self._client.cancel(self._futures, force=True)
            self._futures = []
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


def make_executor(
    workers: int | None = None, scheduler: str | None = None, dask: bool = False
) -> LocalPool | DaskExecutor:
    """`scheduler`: that Dask cluster; `dask`: a local Dask cluster of `workers`; else a
    local process pool of `workers` (default: every core)."""
    count = workers or multiprocessing.cpu_count()
    if scheduler is not None:
        return DaskExecutor(scheduler=scheduler)
    if dask:
        return DaskExecutor(workers=count)
    return LocalPool(count)
