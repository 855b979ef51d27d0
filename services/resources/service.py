"""resources: the HSDS directory of community services and closed-loop service referrals."""

from __future__ import annotations

from sqlalchemy import select

from services.resources.models import Organization
from services.resources.schemas import OrganizationOut, OrganizationQuery
from shared.db import Database
from shared.http import Call, api
from shared.http.pagination import Page, decode_cursor, encode_cursor
from shared.service import ServiceBase

ANY_ROLE = {"screener", "case_manager", "supervisor", "partner", "admin", "auditor"}


class ResourcesService(ServiceBase):
    """The community resource directory (HSDS 3.0) and service referrals to partners."""

    name = "resources"
    db = Database()

    @api("GET", "/v1/organizations", roles=ANY_ROLE, query=OrganizationQuery, response=Page[OrganizationOut],
         tags=["directory"], summary="Organizations of the directory, by name")
    def list_organizations(self, call: Call) -> Page[OrganizationOut]:
        query: OrganizationQuery = call.query
        statement = select(Organization)
        if query.search:
            statement = statement.where(Organization.name.ilike(f"%{query.search}%"))
        cursor = decode_cursor(query.cursor)
        if cursor:
            statement = statement.where(
                (Organization.name > str(cursor.get("name")))
                | ((Organization.name == str(cursor.get("name"))) & (Organization.id > str(cursor.get("id"))))
            )
        rows = self.db.scalars(statement.order_by(Organization.name, Organization.id).limit(query.limit + 1)).all()
        items = [OrganizationOut.model_validate(row) for row in rows[: query.limit]]
        more = len(rows) > query.limit
        return Page[OrganizationOut](
            items=items, next_cursor=encode_cursor({"name": items[-1].name, "id": items[-1].id}) if more else None
        )
