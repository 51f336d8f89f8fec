"""The Audit screen: the audit log, filtered, as JSON or as a CSV download."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from robostral.pendant.access.roles import Permission
from robostral.pendant.errors import BadRequest
from robostral.pendant.web.context import AppContext


class AuditRoutes:
    def __init__(self, context: AppContext) -> None:
        self.context = context

    async def audit_log(self, request: Request) -> Response:
        await self.context.session(request, Permission.VIEW_AUDIT)
        filters, audit = _audit_filters(request), self.context.pendant.audit
        if request.url.path.endswith(".csv"):
            text = await run_in_threadpool(lambda: audit.export_csv(**filters))
            return Response(text, media_type="text/csv",
                            headers={"Content-Disposition": 'attachment; filename="audit.csv"'})
        entries = await run_in_threadpool(lambda: audit.query(**filters))
        return JSONResponse({"entries": [{"id": e.id, "time": e.at, "user": e.user, "action": e.action.value,
                                          "detail": e.detail} for e in entries]})


def routes(context: AppContext) -> list[Route]:
    screen = AuditRoutes(context)
    return [
        Route("/api/audit", screen.audit_log, methods=["GET"]),
        Route("/api/audit.csv", screen.audit_log, methods=["GET"]),
    ]


def _audit_filters(request: Request) -> dict:
    query, filters = request.query_params, {}
    unknown = sorted(set(query) - {"since", "until", "user", "action", "limit"})
    if unknown:
        raise BadRequest(f"unknown query parameter(s) {', '.join(repr(k[:40]) for k in unknown[:5])}")
    try:
        for key in ("since", "until"):
            if key in query:
                filters[key] = float(query[key])
        if "limit" in query:
            filters["limit"] = int(query["limit"])
    except ValueError:
        raise BadRequest("since and until must be Unix seconds, limit a whole number") from None
    for key in ("user", "action"):
        if key in query:
            filters[key] = query[key]
    return filters
