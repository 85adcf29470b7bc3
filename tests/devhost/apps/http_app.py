"""A small FunctionApp with HTTP triggers, built fresh for each test (get_functions runs once)."""

from __future__ import annotations

import json

import azure.functions as func


def build() -> func.FunctionApp:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    app.register_functions(blueprint())
    return app


def blueprint() -> func.Blueprint:
    bp = func.Blueprint()  # type: ignore[no-untyped-call]

    def echo(req: func.HttpRequest, **extra: object) -> func.HttpResponse:
        return func.HttpResponse(
            json.dumps(
                {
                    "method": req.method,
                    "url": req.url,
                    "params": dict(req.params),
                    "route": dict(req.route_params),
                    "body": req.get_body().decode(),
                    "header": req.headers.get("x-test"),
                    **extra,
                }
            ),
            mimetype="application/json",
            headers={"X-Answer": "yes"},
        )

    @bp.route(route="items/{id:int}", methods=["GET", "POST"], auth_level=func.AuthLevel.FUNCTION)
    async def item(req: func.HttpRequest) -> func.HttpResponse:
        return echo(req, which="item")

    @bp.route(route="items/new", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
    async def new_item(req: func.HttpRequest) -> func.HttpResponse:
        return echo(req, which="new")

    @bp.route(route="items/{name}", methods=["DELETE"])
    async def delete_item(req: func.HttpRequest) -> func.HttpResponse:
        return echo(req, which="delete")

    @bp.route(route="files/{*rest}", methods=["GET"])
    def files(req: func.HttpRequest) -> func.HttpResponse:  # sync: runs in a thread
        return echo(req, which="files")

    @bp.route(route="opt/{name?}", methods=["GET"])
    async def optional(req: func.HttpRequest) -> func.HttpResponse:
        return echo(req, which="optional")

    @bp.route(route="boom", methods=["GET"])
    async def boom(req: func.HttpRequest) -> func.HttpResponse:
        raise RuntimeError("kaboom")

    @bp.route(route="text", methods=["GET"])
    def text(req: func.HttpRequest) -> str:
        return "plain"

    @bp.function_name("anything")
    @bp.route(route="any")
    async def any_method(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
        return echo(req, which="any", function=context.function_name)

    return bp
