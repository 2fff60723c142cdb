"""The authenticated caller, as every other module sees it."""

from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    CITIZEN = "citizen"
    WARD_OFFICER = "ward_officer"
    DISTRICT_OFFICER = "district_officer"
    AGENCY_OFFICER = "agency_officer"  # an agency's official, wherever the agency serves
    CITY_ADMIN = "city_admin"
    ANALYST = "analyst"


OFFICIAL_ROLES = frozenset({Role.WARD_OFFICER, Role.DISTRICT_OFFICER, Role.AGENCY_OFFICER,
                            Role.CITY_ADMIN})


@dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    role: Role
    ward_codes: frozenset[str] = field(default_factory=frozenset)
    district_codes: frozenset[str] = field(default_factory=frozenset)
    agency_codes: frozenset[str] = field(default_factory=frozenset)  # agencies they belong to
    token_id: str = ""

    @property
    def is_official(self) -> bool:
        return self.role in OFFICIAL_ROLES
