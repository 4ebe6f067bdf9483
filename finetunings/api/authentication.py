"""API authentication: ``Authorization: Bearer <api key>``, or a staff member's session.

The API-key class is listed first in the settings, so a request without credentials gets
401 with ``WWW-Authenticate: Bearer`` (DRF takes the challenge from the first class).
"""

from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from finetunings import selectors, services
from finetunings.models import APIKey


class APIKeyUser:
    """The caller behind an API key, standing in for ``request.user``."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    is_active = True

    def __init__(self, api_key: APIKey):
        self.api_key = api_key

    # Code written for Django users (DRF's UserRateThrottle, logging) reads ``pk``/``id``;
    # prefixed so it can never collide with a real user's id.
    @property
    def pk(self) -> str:
        return f"api-key:{self.api_key.pk}"

    id = pk

    def __str__(self) -> str:
        return f"API key {self.api_key.name}"

    def has_perm(self, perm, obj=None) -> bool:
        return False


class APIKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                _("Invalid Authorization header: expected 'Bearer <api key>'.")
            )
        try:
            raw_key = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(_("Invalid API key.")) from None
        api_key = selectors.api_key_for(raw_key)
        if api_key is None:
            raise exceptions.AuthenticationFailed(_("Invalid or revoked API key."))
        # Checked on the row already read, so a key in steady use costs no write (and no
        # transaction) on most requests; the touch's UPDATE keeps the same condition.
        if services.api_key_touch_due(api_key):
            services.api_key_touch(api_key=api_key)
        return APIKeyUser(api_key), api_key

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="api"'


class StaffSessionAuthentication(authentication.SessionAuthentication):
    """Session login, for staff using the browsable API after logging in to the admin."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None or not (result[0].is_active and result[0].is_staff):
            return None
        return result


def actor_for(request) -> str:
    """Who is acting, as written in a job's timeline."""
    if isinstance(request.auth, APIKey):
        return f"api key {request.auth.name} ({request.auth.prefix})"
    return f"staff user {request.user.get_username()}"
