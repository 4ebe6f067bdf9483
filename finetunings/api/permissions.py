"""Who may do what through the API.

API keys are service accounts: ``spec/api.md`` gives them the whole API. A staff member's
admin session is also accepted (for the browsable API), and it must not be a way around the
admin's permissions: a session may only do through the API what the same user's Django model
permissions allow in the admin.
"""

from rest_framework.permissions import DjangoModelPermissions

from finetunings.models import APIKey

VIEW = "%(app_label)s.view_%(model_name)s"
CANCEL_FINETUNING = "finetunings.cancel_finetuning"


class APIKeyOrModelPermissions(DjangoModelPermissions):
    """An API key holder (everything), or a staff session held to its model permissions."""

    # DRF's default lets any authenticated user read; staff need ``view_<model>`` as in
    # the admin, and OPTIONS describes the endpoint, so it counts as a read too.
    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": [VIEW],
        "HEAD": [VIEW],
        "OPTIONS": [VIEW],
    }
    # The cancel action is a POST, yet it creates nothing: it needs the permission the
    # admin's cancel action needs, and view to see the job at all.
    action_perms = {
        "cancel": [VIEW, CANCEL_FINETUNING],
        # An import adds records and updates those it finds by their external id.
        "import_file": ["%(app_label)s.add_%(model_name)s", "%(app_label)s.change_%(model_name)s"],
        "export": [VIEW],
        "redeliver": [VIEW, "%(app_label)s.change_%(model_name)s"],
    }

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False  # DRF turns this into 401 when no credentials were sent
        if isinstance(request.auth, APIKey):
            return True
        if getattr(view, "_ignore_model_permissions", False):
            return True  # the API root lists no data
        action_perms = self.action_perms.get(getattr(view, "action", None))
        if action_perms is None:
            return super().has_permission(request, view)
        model = self._queryset(view).model
        names = {"app_label": model._meta.app_label, "model_name": model._meta.model_name}
        return request.user.has_perms([perm % names for perm in action_perms])
