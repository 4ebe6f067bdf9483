"""Rate limits: one budget per API key and one per staff user, counted in the shared cache.

Rates come from the environment (FINETUNING_THROTTLE_API_KEY_RATE, ..._STAFF_RATE), read
at request time so a changed setting applies without a new class. An exceeded budget is a
429 in the API's error shape with ``Retry-After`` (DRF's ``Throttled``, through the API's
exception handler). A cache outage must not take the API down with it: the limit is then
not applied, and that is logged.

A budget is a sliding-window counter, not DRF's list of timestamps (which a request reads
and writes back whole, O(rate) bytes, and which concurrent requests overwrite): one integer
per (scope, ident, window number), and the estimate ``previous window's count * (1 -
elapsed fraction of this window) + this window's count``. So a burst at the end of one
window still counts in the next one, and the cache holds two small integers per budget
whatever the rate. A request is refused when the estimate has reached the rate; a refused
request is not counted.

Cache calls: an allowed request makes two, one ``get_many`` of both windows' counts and
then one ``add`` (the first request of a window) or one atomic ``incr`` (Django's Redis
backend sends EXISTS + INCRBY for it, so three round trips there); a refused request makes
the ``get_many`` only, plus an ``incr`` and a ``decr`` when requests racing it took the
last places between its read and its increment.
"""

import contextlib
import logging
import math
from time import time

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from finetunings.models import APIKey

logger = logging.getLogger(__name__)


class _SlidingWindowThrottle(SimpleRateThrottle):
    _wait = None

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request, view):
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        self._wait = None
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        try:
            return self._count(key, time())
        except Exception:
            logger.warning("Rate limit not applied: the cache is unreachable", exc_info=True)
            return True

    def _count(self, key, now):
        window, offset = divmod(now, self.duration)
        earlier, current = f"{key}:{int(window) - 1}", f"{key}:{int(window)}"
        counts = self.cache.get_many([earlier, current])
        previous, counted = counts.get(earlier, 0), counts.get(current, 0)
        carried = previous * (1 - offset / self.duration)
        if carried + counted >= self.num_requests:
            return self._refuse(previous, counted, offset)
        counted = self._increment(current, counted)
        if carried + counted - 1 < self.num_requests:
            return True
        # Concurrent requests took the last places between the read and the increment.
        with contextlib.suppress(ValueError):  # evicted meanwhile: nothing left to take back
            self.cache.decr(current)
        return self._refuse(previous, counted - 1, offset)

    def _increment(self, key, counted):
        # Outlives the next window, whose estimate still weighs this one's count.
        timeout = 2 * self.duration
        if counted == 0 and self.cache.add(key, 1, timeout):
            return 1
        try:
            return self.cache.incr(key)
        except ValueError:  # gone since the read: a full LocMem cache culls entries
            return 1 if self.cache.add(key, 1, timeout) else self.cache.incr(key)

    def _refuse(self, previous, current, offset):
        self._wait = self._seconds_until_below_rate(previous, current, offset)
        return False

    def _seconds_until_below_rate(self, previous, current, offset):
        """Whole seconds (Retry-After's unit) until the estimate, with nothing more counted,
        is below the rate; at most the window."""
        rate, duration = self.num_requests, self.duration
        left_in_window = duration - offset
        if previous:
            # Still in this window, where the previous window's weight fades.
            excess = previous * (1 - offset / duration) + current - rate
            seconds = _just_after(excess * duration / previous)
            if seconds < left_in_window:
                return seconds
        # In the next window, where this window's count is the one that fades.
        fade = max(0.0, 1 - rate / current) if current else 1.0  # 1.0: a rate of 0
        return min(duration, _just_after(left_in_window + duration * fade))

    def wait(self):
        return self._wait


class APIKeyRateThrottle(_SlidingWindowThrottle):
    scope = "api_key"

    def get_cache_key(self, request, view):
        if not isinstance(request.auth, APIKey):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}


class StaffRateThrottle(_SlidingWindowThrottle):
    scope = "staff"

    def get_cache_key(self, request, view):
        user = request.user
        if isinstance(request.auth, APIKey) or not getattr(user, "is_staff", False):
            return None
        return self.cache_format % {"scope": self.scope, "ident": user.pk}


def _just_after(seconds):
    # At the very moment the estimate equals the rate a request is still refused; the
    # margin keeps float error from landing on that moment.
    return math.floor(seconds + 1e-9) + 1
