"""Who may call a mutation at all, by role. Whether a caller may act on a *given* complaint
is decided by the policy SQL (``auth/policy.py``) when the complaint is locked."""

from typing import Any, ClassVar

from strawberry.permission import BasePermission
from strawberry.types import Info

from auth.principal import Role


class SignedIn(BasePermission):
    message = "Sign in first: send 'Authorization: Bearer <token>'."
    error_extensions: ClassVar[dict[str, Any]] = {"code": "UNAUTHENTICATED"}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        context = info.context
        if context.principal is None and context.auth_error:
            self.message = f"Sign in first: {context.auth_error}"
        return context.principal is not None


class _RolePermission(BasePermission):
    roles: frozenset[Role] = frozenset()
    error_extensions: ClassVar[dict[str, Any]] = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        principal = info.context.principal
        return principal is not None and principal.role in self.roles


class OfficialsOnly(_RolePermission):
    message = "Only ward officers, district officers and city admins may do this."
    roles = frozenset({Role.WARD_OFFICER, Role.DISTRICT_OFFICER, Role.CITY_ADMIN})


class ReportersOnly(_RolePermission):
    message = "Only the citizen who reported the complaint may do this."
    roles = frozenset({Role.CITIZEN})


class ReportersAndOfficials(_RolePermission):
    message = "Analysts read; only reporters and officials act on complaints."
    roles = OfficialsOnly.roles | ReportersOnly.roles


class NotAnalyst(BasePermission):
    """Anyone may report a problem, signed in or not, except analysts, who only read."""

    message = "Analysts read; they do not submit complaints."
    error_extensions: ClassVar[dict[str, Any]] = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        principal = info.context.principal
        return principal is None or principal.role is not Role.ANALYST
