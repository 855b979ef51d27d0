"""Endpoints: caseload, overdue and outcome reports (small cells suppressed), as JSON or CSV."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from services.casework.api.base import REPORT_READERS, CaseworkBase
from services.casework.domain import reports
from services.casework.schemas import OutcomesQuery, ReportQuery
from services.casework.usecases import reports as report_rows
from services.casework.usecases.common import utcnow
from shared.http import ApiResponse, Call, api


def _csv(rows: list[Any], model: type[BaseModel]) -> ApiResponse:
    return ApiResponse(reports.to_csv(rows, model), media_type="text/csv")


class ReportEndpoints(CaseworkBase):
    @api("GET", "/v1/reports/caseload", roles=REPORT_READERS, query=ReportQuery,
         response=list[reports.CaseloadRow], tags=["reports"], alternatives=["text/csv"],
         summary="Open cases per case manager against their cap (?format=csv for text/csv)")
    def caseload_report(self, call: Call[None, ReportQuery]) -> Any:
        rows = report_rows.caseload(self.db, call.agency)
        self.audit.record_now(call, "report.caseload", "report", "caseload")
        return _csv(rows, reports.CaseloadRow) if call.query.format == "csv" else rows

    @api("GET", "/v1/reports/overdue", person_data=True,
         roles=REPORT_READERS, query=ReportQuery, response=list[reports.OverdueItem],
         tags=["reports"], alternatives=["text/csv"],
         summary="Everything late on open cases, oldest first (?format=csv for text/csv)")
    def overdue_report(self, call: Call[None, ReportQuery]) -> Any:
        items = report_rows.overdue(self.db, call.agency, self.settings, utcnow())
        self.audit.record_now(call, "report.overdue", "report", "overdue",
                              detail={"case_ids": sorted({item.case_id for item in items})})
        return _csv(items, reports.OverdueItem) if call.query.format == "csv" else items

    @api("GET", "/v1/reports/outcomes", roles=REPORT_READERS, query=OutcomesQuery,
         response=dict[str, list[reports.OutcomeCell]], tags=["reports"], alternatives=["text/csv"],
         summary="Outcomes by program, race, ethnicity, sex and age band; cells under 10 people suppressed "
                 "(?format=csv for text/csv)")
    def outcomes_report(self, call: Call[None, OutcomesQuery]) -> Any:
        query = call.query
        rows = report_rows.case_rows(self.db, call.agency)
        if query.dimension is not None:
            result = {query.dimension.value: reports.outcomes_by(rows, query.dimension)}
        else:
            result = reports.outcomes_report(rows)
        self.audit.record_now(call, "report.outcomes", "report", "outcomes")
        if query.format == "csv":
            return _csv([cell for cells in result.values() for cell in cells], reports.OutcomeCell)
        return {name: [cell.model_dump(mode="json") for cell in cells] for name, cells in result.items()}
