from rest_framework.permissions import BasePermission


class IsAPIClient(BasePermission):
    """An API key holder, or a logged-in staff member (see ``authentication``)."""

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated)
