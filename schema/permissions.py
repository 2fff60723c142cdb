"""Who may call a mutation at all, by role. Whether a caller may act on a *given* complaint
is decided by the policy SQL (``auth/policy.py``) when the complaint is locked."""

from typing import Any, ClassVar

from strawberry.permission import BasePermission
from strawberry.types import Info

from auth.principal import OFFICIAL_ROLES, Role
from errors import ErrorCode, PhananhError


class SignedIn(BasePermission):
    """Refuses anonymous callers. (A caller whose token did not verify never gets this far:
    ``schema.extensions.FailClosedAuth`` refuses the whole operation with the reason.)

    Strawberry shares one permission instance per field among all requests, so nothing about
    one request may be stored on it: the refusal is raised here, never left in ``self.message``.
    """

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        if info.context.principal is None:
            raise PhananhError(ErrorCode.UNAUTHENTICATED,
                               "Sign in first: send 'Authorization: Bearer <token>'.")
        return True


class _RolePermission(BasePermission):
    roles: frozenset[Role] = frozenset()
    error_extensions: ClassVar[dict[str, Any]] = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        principal = info.context.principal
        return principal is not None and principal.role in self.roles


class OfficialsOnly(_RolePermission):
    message = "Only officials (ward, district and agency officers, city admins) may do this."
    roles = OFFICIAL_ROLES


class ReportersOnly(_RolePermission):
    message = "Only the citizen who reported the complaint may do this."
    roles = frozenset({Role.CITIZEN})


class ReportersAndOfficials(_RolePermission):
    message = "Analysts read; only reporters and officials act on complaints."
    roles = OfficialsOnly.roles | ReportersOnly.roles


class CityAdminsOnly(_RolePermission):
    message = "Only city admins may change the catalogue."
    roles = frozenset({Role.CITY_ADMIN})


class NotAnalyst(BasePermission):
    """Anyone may report a problem, signed in or not, except analysts, who only read."""

    message = "Analysts read; they do not submit complaints."
    error_extensions: ClassVar[dict[str, Any]] = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        principal = info.context.principal
        return principal is None or principal.role is not Role.ANALYST
