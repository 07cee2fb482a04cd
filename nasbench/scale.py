"""Independent jobs on Ray: a laptop's cores (`ray.init` starts a local cluster) or a lab's cluster
(set `RAY_ADDRESS`). The ground-truth table builds (`nasbench.bench.build`) and the recorded
comparison of notebook 10 (`nasbench.compare.record`) both spread their work with `ray_map`."""
from __future__ import annotations

import os
from typing import Callable, Sequence


def ray_map(fn: Callable, jobs: Sequence[tuple], progress: Callable[[int, int], None] | None = None) -> list:
    """`[fn(*job) for job in jobs]`, one Ray task per job (one CPU each), results in the order of
    `jobs`; `progress(done, total)` after each job ends. Starts Ray unless it is already running,
    and then shuts it down again."""
    try:
        import ray
    except ImportError:
        raise RuntimeError("the ray backend needs Ray: pip install 'nasbench[ray]'") from None
    started = not ray.is_initialized()
    if started:
        start_ray(ray)
    try:
        remote = ray.remote(num_cpus=1)(fn)
        pending = {remote.remote(*job): i for i, job in enumerate(jobs)}
        results: list = [None] * len(jobs)
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                results[pending.pop(ref)] = ray.get(ref)
            if progress:
                progress(len(jobs) - len(pending), len(jobs))
        return results
    finally:
        if started:
            ray.shutdown()


def start_ray(ray, attempts: int = 3) -> None:
    """Join the cluster at RAY_ADDRESS, else start a local one. Ray gives its local node a fixed
    30 s to register; on a loaded laptop or CI machine that can run out, so start-up is tried
    again (a clean shutdown in between) before the error reaches the user."""
    for attempt in range(1, attempts + 1):
        try:
            ray.init(address=os.environ.get("RAY_ADDRESS"), include_dashboard=False, log_to_driver=False)
            return
        except Exception as error:  # Ray raises a bare Exception when its node times out at start-up
            ray.shutdown()
            if attempt == attempts:
                raise RuntimeError(f"Ray did not start after {attempts} attempts: {error}") from error
