"""Endpoints: the screening report and the bulk export of referrals."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine
from werkzeug.wrappers import Response

from services.intake.api.base import (
    REPORT_READERS,
    IntakeBase,
)
from services.intake.domain.report import build_report, render_csv
from services.intake.schemas import (
    ExportQuery,
    ReportQuery,
    ScreeningReportOut,
)
from services.intake.usecases import export, reports
from shared.auth import load_or_create_secret
from shared.http import Call, api
from shared.http.api import ApiResponse
from shared.http.problems import (
    Forbidden,
    UnprocessableContent,
)


class ReportEndpoints(IntakeBase):

    @api("GET", "/v1/reports/screening", roles=REPORT_READERS, query=ReportQuery, response=ScreeningReportOut,
         tags=["reports"], alternatives=["text/csv"],
         summary="Referred, screened eligible and accepted by program, race, ethnicity, sex and age band; "
                 "cells under 10 people suppressed (?format=csv for text/csv)")
    def screening_report(self, call: Call[None, ReportQuery]) -> Any:
        query = call.query
        if query.from_ and query.to and query.from_ > query.to:
            raise UnprocessableContent("`from` is after `to`", slug="invalid-query",
                                       errors=[{"field": "from", "message": "after `to`", "type": "value_error"}])
        rows, referred = reports.report_rows(self.db, call.agency, query.from_, query.to)
        report = build_report(rows)
        self.audit.record_now(call, "report.screening.read", "report", None, detail={
            "from": str(query.from_) if query.from_ else None, "to": str(query.to) if query.to else None})
        if query.format == "csv":
            return ApiResponse(render_csv(report), media_type="text/csv")
        return ScreeningReportOut(date_from=query.from_, date_to=query.to, referrals=referred,
                                  min_cell=report.min_cell, cells=report.cells)

    # ------------------------------------------------------------ exports

    @api("GET", "/v1/exports/referrals", person_data=True, roles={"admin", "supervisor", "auditor"}, query=ExportQuery,
         media_type="application/x-ndjson", alternatives=["text/csv"], tags=["exports"],
         summary="Every referral with its screening, last decision and outcome, streamed as NDJSON (or "
                 "?format=csv); ?variant=deidentified for research (auditors get only that one)")
    def export_referrals(self, call: Call[None, ExportQuery]) -> Response:
        query = call.query
        if query.from_ and query.to and query.from_ > query.to:
            raise UnprocessableContent("`from` is after `to`", slug="invalid-query",
                                       errors=[{"field": "from", "message": "after `to`", "type": "value_error"}])
        roles = call.identity.roles if call.identity else frozenset()
        if query.variant == "identified" and not roles & {"admin", "supervisor"}:
            raise Forbidden("the identified export needs the role admin or supervisor; ask for variant=deidentified")
        common = self.ops.settings.common
        key = export.export_key(common.jwt_secret or load_or_create_secret(common.secret_file),
                                self.settings.export_key)
        self.audit.record_now(call, "referral.exported", "referral", None, detail={
            "variant": query.variant, "format": query.format, "program": query.program,
            "from": query.from_.isoformat() if query.from_ else None, "to": query.to.isoformat() if query.to else None,
        })
        engine = self.db.get_bind()
        assert isinstance(engine, Engine), "the service's session is bound to its engine"
        agency = call.agency

        def stream() -> Any:
            # Its own connection: the worker's session is closed by the time the body is sent.
            with engine.connect() as connection:
                rows = export.records(connection, agency, variant=query.variant, key=key, date_from=query.from_,
                                      date_to=query.to, program=query.program)
                render = export.as_csv if query.format == "csv" else export.as_ndjson
                yield from render(rows, query.variant)

        media = "text/csv; charset=utf-8" if query.format == "csv" else "application/x-ndjson"
        name = f"referrals-{query.variant}.{'csv' if query.format == 'csv' else 'ndjson'}"
        return Response(stream(), status=200, content_type=media,
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

