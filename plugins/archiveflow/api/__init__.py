"""FastAPI apps served by the Airflow API server (registered by plugins/archiveflow_plugin.py)."""

from collections.abc import Callable


def new_app(title: str, description: str, where: Callable[[str], str]):
    """A FastAPI app whose `BadRequest` answers 422 in FastAPI's own shape, naming the field
    (``where(field)``: ``path``, ``query`` or ``body``), plus the field and the whole message."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    from archiveflow.errors import BadRequest

    app = FastAPI(title=title, version="1", description=description)

    @app.exception_handler(BadRequest)
    def bad_request(_request, error: BadRequest) -> JSONResponse:
        return JSONResponse(status_code=422, content={
            "detail": [{"loc": [where(error.field), error.field], "msg": error.reason}], "field": error.field,
            "message": str(error)})

    return app
