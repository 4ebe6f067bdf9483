"""Rate limits: one budget per API key and one per staff user, counted in the shared cache.

Rates come from the environment (FINETUNING_THROTTLE_API_KEY_RATE, ..._STAFF_RATE), read
at request time so a changed setting applies without a new class. An exceeded budget is a
429 in the API's error shape with ``Retry-After`` (DRF's ``Throttled``, through the API's
exception handler). A cache outage must not take the API down with it: the limit is then
not applied, and that is logged.
"""

import logging

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from finetunings.models import APIKey

logger = logging.getLogger(__name__)


class _FailOpenThrottle(SimpleRateThrottle):
    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request, view):
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        try:
            return super().allow_request(request, view)
        except Exception:
            logger.warning("Rate limit not applied: the cache is unreachable", exc_info=True)
            return True


class APIKeyRateThrottle(_FailOpenThrottle):
    scope = "api_key"

    def get_cache_key(self, request, view):
        if not isinstance(request.auth, APIKey):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}


class StaffRateThrottle(_FailOpenThrottle):
    scope = "staff"

    def get_cache_key(self, request, view):
        user = request.user
        if isinstance(request.auth, APIKey) or not getattr(user, "is_staff", False):
            return None
        return self.cache_format % {"scope": self.scope, "ident": user.pk}
