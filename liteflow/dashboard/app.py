"""The dashboard's ASGI app: pages for people, a JSON API for scripts, both over the host's own calls."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from liteflow import documents
from liteflow.core.errors import LiteFlowError, WorkflowNotFoundError
from liteflow.core.interfaces import SupportsSchedules
from liteflow.core.models import WorkflowInstance, WorkflowStatus

from .auth import COOKIE, Access
from .graph import definition_svg
from .timeline import timeline_svg

HERE = Path(__file__).parent
ACTIONS = ("suspend", "resume", "terminate")
STATUSES = [status.name for status in WorkflowStatus]


def create_app(host: Any, token: str | None = None, allow_actions: bool = False) -> Starlette:
    """The dashboard for ``host`` (a started host, or a client sharing workers' providers).

    ``token`` (default: the ``LITEFLOW_DASHBOARD_TOKEN`` environment variable) protects every page
    and the API; without one the dashboard is read-only unless ``allow_actions``."""
    access = Access(token if token is not None else os.environ.get("LITEFLOW_DASHBOARD_TOKEN"), allow_actions)
    pages = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True))
    pages.filters["when"] = _when
    return Starlette(routes=_Routes(host, access, pages).routes())


def _when(value: str | None) -> str:
    """An ISO 8601 time as people read it: ``2026-12-01 19:15:02.521``, UTC."""
    if not value:
        return ""
    return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


class _Routes:
    def __init__(self, host: Any, access: Access, pages: Environment) -> None:
        self.host = host
        self.access = access
        self.pages = pages

    def routes(self) -> list[Any]:
        return [
            Route("/", self.list_page),
            Route("/workflows/{workflow_id}", self.instance_page),
            Route("/definitions", self.definitions_page),
            Route("/login", self.login, methods=["GET", "POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/api/workflows", self.api_list),
            Route("/api/workflows/{workflow_id}", self.api_show),
            Route("/api/workflows/{workflow_id}/{action}", self.api_action, methods=["POST"]),
            Route("/api/events", self.api_publish, methods=["POST"]),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ]

    # -- helpers ---------------------------------------------------------------------------------------
    def _render(self, template: str, **values: Any) -> HTMLResponse:
        values.setdefault("can_act", self.access.allow_actions)
        values.setdefault("protected", self.access.token is not None)
        return HTMLResponse(self.pages.get_template(template).render(**values))

    def _page_guard(self, request: Request) -> Response | None:
        if self.access.authenticated(request):
            return None
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)

    def _api_guard(self, request: Request, acting: bool = False) -> JSONResponse | None:
        if not self.access.authenticated(request):
            return JSONResponse({"error": "unauthorized: send Authorization: Bearer <token>"}, status_code=401)
        if acting and not self.access.allow_actions:
            return JSONResponse({"error": "read-only dashboard: start it with a token or --allow-actions"}, 403)
        if acting and not self.access.same_origin(request):
            return JSONResponse({"error": "cross-site request refused"}, status_code=403)
        return None

    def _filters(self, request: Request) -> dict[str, Any]:
        q = request.query_params
        status = (q.get("status") or "").upper() or None
        if status is not None and status not in STATUSES:
            raise HTTPException(400, f"unknown status {status!r}: one of {', '.join(STATUSES)}")
        filters: dict[str, Any] = {
            "status": status,
            "definition_id": q.get("definition") or None,
            "reference": q.get("reference") or None,
        }
        for name in ("created_from", "created_to"):
            if q.get(name):
                try:
                    filters[name] = datetime.fromisoformat(q[name])
                except ValueError as exc:
                    raise HTTPException(400, f"{name}: not an ISO 8601 time") from exc
        return filters

    def _paging(self, request: Request, default: int) -> tuple[int, int]:
        try:
            limit = min(max(int(request.query_params.get("limit", default)), 1), 1000)
            skip = max(int(request.query_params.get("skip", 0)), 0)
        except ValueError as exc:
            raise HTTPException(400, "limit and skip are whole numbers") from exc
        return skip, limit

    def _instance(self, workflow_id: str) -> WorkflowInstance:
        try:
            instance: WorkflowInstance = self.host.get_workflow_instance(workflow_id)
            return instance
        except WorkflowNotFoundError as exc:
            raise HTTPException(404, f"no workflow {workflow_id}") from exc

    # -- pages -----------------------------------------------------------------------------------------
    async def list_page(self, request: Request) -> Response:
        guard = self._page_guard(request)
        if guard is not None:
            return guard
        filters = self._filters(request)
        skip, limit = self._paging(request, 50)
        instances = self.host.list_workflows(**filters, skip=skip, take=limit + 1)
        counts = {name: self.host.count_workflows(status=name) for name in STATUSES}
        return self._render(
            "list.html",
            instances=[documents.summary(i) for i in instances[:limit]],
            counts=counts,
            filters=filters,
            query=request.query_params,
            statuses=STATUSES,
            skip=skip,
            limit=limit,
            more=len(instances) > limit,
            refresh=request.query_params.get("refresh", "5"),
        )

    async def instance_page(self, request: Request) -> Response:
        guard = self._page_guard(request)
        if guard is not None:
            return guard
        instance = self._instance(request.path_params["workflow_id"])
        definition = self.host.registry.find(instance.workflow_definition_id, instance.version)
        doc = documents.detail(instance, definition, self.host.get_errors(instance.id))
        return self._render(
            "instance.html",
            wf=doc,
            data_json=json.dumps(doc["data"], indent=2, sort_keys=True, default=str),
            timeline=Markup(timeline_svg(instance, definition)),
            graph=None if definition is None else Markup(definition_svg(definition, instance)),
        )

    async def definitions_page(self, request: Request) -> Response:
        guard = self._page_guard(request)
        if guard is not None:
            return guard
        definitions = sorted(self.host.registry.all(), key=lambda d: (d.id, d.version))
        return self._render(
            "definitions.html",
            definitions=[(d, Markup(definition_svg(d))) for d in definitions],
            schedules=self._schedules(),
        )

    def _schedules(self) -> list[dict[str, Any]] | None:
        """The stored schedules, or None when the persistence provider keeps none."""
        if not isinstance(self.host.persistence, SupportsSchedules):
            return None
        return [
            {
                "id": s.id,
                "definition_id": s.definition_id,
                "version": s.version,
                "when": s.cron if s.cron is not None else f"every {s.every}",
                "timezone": s.timezone,
                "next_run_time": documents.iso(s.next_run_time),
            }
            for s in self.host.list_schedules()
        ]

    async def login(self, request: Request) -> Response:
        target = request.query_params.get("next", "/")
        if not target.startswith("/") or target.startswith("//"):
            target = "/"
        if request.method == "GET":
            return self._render("login.html", next=target, failed=False)
        form = await request.form()
        offered = str(form.get("token", ""))
        if not self.access.token_ok(offered) or not self.access.same_origin(request):
            return self._render("login.html", next=target, failed=True)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(COOKIE, offered, httponly=True, samesite="strict", path="/")
        return response

    async def logout(self, request: Request) -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    # -- the JSON API ----------------------------------------------------------------------------------
    async def api_list(self, request: Request) -> Response:
        guard = self._api_guard(request)
        if guard is not None:
            return guard
        try:
            filters = self._filters(request)
            skip, limit = self._paging(request, 100)
        except HTTPException as exc:
            return JSONResponse({"error": exc.detail}, status_code=exc.status_code)
        instances = self.host.list_workflows(**filters, skip=skip, take=limit)
        return JSONResponse([documents.summary(i) for i in instances])

    async def api_show(self, request: Request) -> Response:
        guard = self._api_guard(request)
        if guard is not None:
            return guard
        try:
            instance = self._instance(request.path_params["workflow_id"])
        except HTTPException as exc:
            return JSONResponse({"error": exc.detail}, status_code=404)
        definition = self.host.registry.find(instance.workflow_definition_id, instance.version)
        return JSONResponse(documents.detail(instance, definition, self.host.get_errors(instance.id)))

    async def api_action(self, request: Request) -> Response:
        guard = self._api_guard(request, acting=True)
        if guard is not None:
            return guard
        action = request.path_params["action"]
        workflow_id = request.path_params["workflow_id"]
        if action not in ACTIONS:
            return JSONResponse({"error": f"unknown action {action!r}: one of {', '.join(ACTIONS)}"}, 404)
        try:
            done = getattr(self.host, f"{action}_workflow")(workflow_id)
        except WorkflowNotFoundError:
            return JSONResponse({"error": f"no workflow {workflow_id}"}, status_code=404)
        if not done:
            status = self.host.get_workflow_instance(workflow_id).status.name
            return JSONResponse({"error": f"cannot {action} a {status} workflow", "status": status}, 409)
        status = self.host.get_workflow_instance(workflow_id).status.name
        return JSONResponse({"id": workflow_id, "action": action, "status": status})

    async def api_publish(self, request: Request) -> Response:
        guard = self._api_guard(request, acting=True)
        if guard is not None:
            return guard
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": 'send JSON: {"name": ..., "key": ..., "data": ...}'}, status_code=400)
        if not isinstance(body, dict) or not body.get("name") or body.get("key") is None:
            return JSONResponse({"error": '"name" and "key" are required'}, status_code=400)
        try:
            event_id = self.host.publish_event(str(body["name"]), str(body["key"]), body.get("data"))
        except (LiteFlowError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"id": event_id})
