"""Where the orchestrator's tasks run: in-process, local worker processes, or Dask.

:class:`TaskRunner` maps a picklable function over argument tuples and returns the
results in submission order, whichever backend runs them:

* ``n_jobs == 1`` and no scheduler: in the calling process;
* ``n_jobs > 1``: a pool of ``spawn``-ed worker processes (fresh interpreters, safe when
  the caller runs threads, unlike ``fork``), each with BLAS/OpenMP limited to one thread
  (one process per core already; nested threads would oversubscribe the cores);
* ``scheduler`` given (an address such as ``"tcp://host:8786"`` or a
  ``dask.distributed.Client``): tasks are submitted to that Dask cluster.

Every task function of :mod:`forecasting.core` also limits BLAS to one thread itself, so
the sums inside least-squares fits and boosting run in the same order on every backend
and the results are bit-for-bit identical.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable, Sequence

from threadpoolctl import threadpool_limits

__all__ = ["TaskRunner", "init_worker", "release_memory"]


_TRIM: Callable | None = None


def release_memory() -> bool:
    """Hand freed heap memory back to the operating system (glibc ``malloc_trim``).

    glibc keeps freed blocks of the main heap for reuse instead of unmapping them, so a
    process that built and dropped large temporaries (a 3-million-row demand frame, the
    cumulative-sum matrices of a global fit) keeps their resident size for the rest of
    the run. The orchestrator calls this between phases, in the parent and in the
    workers; it changes no result. A no-op returning ``False`` where the C library has
    no ``malloc_trim`` (macOS, musl).

    Returns
    -------
    bool
        Whether memory was trimmed.
    """
    global _TRIM
    if _TRIM is None:
        try:
            _TRIM = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
            _TRIM.argtypes = [ctypes.c_size_t]
        except (OSError, AttributeError):
            _TRIM = lambda pad: 0  # noqa: E731 - no malloc_trim in this C library
    return bool(_TRIM(0))


def init_worker() -> None:
    """Limit BLAS/OpenMP to one thread in a worker process (env vars for libraries
    loaded later, threadpoolctl for those already loaded)."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    threadpool_limits(1)


class TaskRunner:
    """Run tasks serially, in local processes, or on a Dask cluster.

    Parameters
    ----------
    n_jobs : int
        Local worker processes (``1``: in-process); ignored when ``scheduler`` is given.
    scheduler : str or dask.distributed.Client, optional
        Dask scheduler address or an existing client. A client created here from an
        address is closed by :meth:`close`; a client passed in is left open.

    Examples
    --------
    >>> with TaskRunner(1) as runner:
    ...     runner.map(pow, [(2, 3), (3, 2)])
    [8, 9]
    """

    def __init__(self, n_jobs: int = 1, scheduler: Any = None):
        self.n_jobs = max(1, int(n_jobs))
        self.scheduler = scheduler
        self._pool = None
        self._client = None
        self._own_client = False
        if scheduler is not None:
            try:
                from dask.distributed import Client
            except ImportError as exc:  # pragma: no cover - depends on the install
                raise ImportError("scheduler= needs dask.distributed: pip install 'supplyplan[dask]'") from exc
            if isinstance(scheduler, Client):
                self._client = scheduler
            else:
                self._client = Client(str(scheduler))
                self._own_client = True

    @property
    def backend(self) -> str:
        """``"dask"``, ``"processes"`` or ``"serial"``."""
        if self._client is not None:
            return "dask"
        return "processes" if self.n_jobs > 1 else "serial"

    @property
    def workers(self) -> int:
        """Number of parallel workers (Dask: threads over all workers)."""
        if self._client is not None:
            info = self._client.scheduler_info()
            return max(1, sum(w.get("nthreads", 1) for w in info.get("workers", {}).values()))
        return self.n_jobs

    def scatter(self, value: Any) -> Any:
        """Ship a large argument once (Dask); identity for the local backends."""
        if self._client is not None:
            return self._client.scatter(value, broadcast=True)
        return value

    def map(self, func: Callable, args: Sequence[tuple]) -> list:
        """``[func(*a) for a in args]``, possibly in parallel, results in order."""
        if not args:
            return []
        if self._client is not None:
            futures = [self._client.submit(func, *a, pure=False) for a in args]
            return self._client.gather(futures)
        if self.n_jobs <= 1:
            return [func(*a) for a in args]
        if self._pool is None:
            ctx = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(max_workers=self.n_jobs, mp_context=ctx, initializer=init_worker)
        futures = [self._pool.submit(func, *a) for a in args]
        return [f.result() for f in futures]

    def close(self) -> None:
        """Shut the process pool down and close a client created here."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        if self._own_client and self._client is not None:
            self._client.close()
        self._client = None

    def __enter__(self) -> "TaskRunner":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
