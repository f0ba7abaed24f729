"""The asynchronous half of the runtime: per-function queues, retries, throttles, give-ups.

An S3 event (or InvocationType=Event) waits in its function's queue; a consumer thread per
free slot runs it. A failed attempt is tried again after `retry_delay` x attempt (Lambda: about
1 and 2 minutes), an event that used up its retries or outlived its maximum age goes to the
on-failure destination (`destinations.py`), and one met by reserved concurrency 0 is held and
tried again later without using a retry. `Runtime` (runtime.py) supplies the pools and the
execution.
"""

from __future__ import annotations

import logging
import threading
import time

from resizer_cli.emulator.destinations import FailureSink, invocation_record
from resizer_cli.emulator.environment import FunctionSpec, Result
from resizer_cli.emulator.pool import AsyncItem, Pool

log = logging.getLogger("resizer.emulator")


class AsyncInvocations:
    retry_delay: float
    failures: FailureSink | None
    _lock: threading.Lock
    _timers: set[threading.Timer]
    _held: set[threading.Timer]
    _closed: threading.Event

    def _pool(self, key: str, name: str) -> Pool:
        raise NotImplementedError

    def _execute(self, spec: FunctionSpec, event: str, request_id: str) -> Result:
        raise NotImplementedError

    def _enqueue(self, key: str, name: str, item: AsyncItem) -> None:
        if self._closed.is_set():
            return
        pool = self._pool(key, name)
        with pool.cond:
            pool.queue.append(item)
            pool.pending += 1
            start = pool.consumers < max(pool.limit, 1)
            if start:
                pool.consumers += 1
        if start:
            threading.Thread(
                target=self._consume, args=(pool,), daemon=True, name=f"async-{name}"
            ).start()

    def _consume(self, pool: Pool) -> None:
        while not self._closed.is_set():
            with pool.cond:
                if not pool.queue:
                    pool.consumers -= 1
                    return
                item = pool.queue.popleft()
            try:
                self._process(pool, item)
            finally:
                with pool.cond:
                    pool.pending -= 1

    def _process(self, pool: Pool, item: AsyncItem) -> None:
        spec = item.resolve()
        if spec is None:
            log.warning("dropping event %s: function %s no longer exists",
                        item.request_id, pool.name)
            return
        if spec.max_event_age_s is not None and time.time() - item.enqueued > spec.max_event_age_s:
            self._give_up(spec, item, None, "EventAgeExceeded")
            return
        if spec.reserved_concurrency == 0:
            self._hold(pool, item)
            return
        try:
            result = self._execute(spec, item.event, item.request_id)
        except Exception:
            log.exception("async invocation %s failed in the runtime", item.request_id)
            return
        if result.failed:
            self._after_failure(pool, spec, item, result)

    def _after_failure(
        self, pool: Pool, spec: FunctionSpec, item: AsyncItem, result: Result
    ) -> None:
        if item.attempt < spec.max_retries:
            item.attempt += 1
            delay = self.retry_delay * item.attempt  # Lambda: ~1 min, then ~2 min
            with pool.cond:
                pool.stats.retries += 1
            timer = threading.Timer(delay, self._retry, args=(pool, item))
            timer.daemon = True
            with self._lock:
                self._timers.add(timer)
            timer.start()
            return
        with pool.cond:
            pool.stats.async_failed += 1
        log.warning(
            "async invocation %s of %s failed after %d attempts: %s",
            item.request_id, spec.name, item.attempt + 1, result.error_type,
        )
        self._give_up(spec, item, result, "RetriesExhausted")

    def _give_up(
        self, spec: FunctionSpec, item: AsyncItem, result: Result | None, condition: str
    ) -> None:
        """Send the event's invocation record to its on-failure destination, if it has one."""
        if self.failures is None or not spec.on_failure:
            return
        try:
            self.failures.deliver(spec, invocation_record(spec, item, result, condition))
        except Exception:
            log.exception("could not deliver the failed event %s of %s", item.request_id,
                          spec.name)

    def _hold(self, pool: Pool, item: AsyncItem) -> None:
        """Throttled: back to the queue later, without using one of the event's retries."""
        delay = min(self.retry_delay / 60 * 2 ** item.throttles, self.retry_delay * 5)
        item.throttles += 1
        with pool.cond:
            pool.stats.throttles += 1
        timer = threading.Timer(delay, self._unhold, args=(pool, item))
        timer.daemon = True
        with self._lock:
            self._held.add(timer)
        timer.start()

    def _unhold(self, pool: Pool, item: AsyncItem) -> None:
        with self._lock:
            self._held.discard(threading.current_thread())
        self._enqueue(pool.key, pool.name, item)

    def _retry(self, pool: Pool, item: AsyncItem) -> None:
        self._enqueue(pool.key, pool.name, item)
        with self._lock:  # after enqueueing, so drain() never sees a gap
            self._timers.discard(threading.current_thread())
