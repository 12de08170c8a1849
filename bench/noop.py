"""Do-nothing apps: the latency floors of the hook benchmark (same gunicorn set-up)."""

from flask import Flask, Response, request


def raw(environ, start_response):
    """A bare WSGI app: reads the body, answers 204."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    environ["wsgi.input"].read(length)
    start_response("204 No Content", [])
    return [b""]


flask = Flask("noop")


@flask.post("/hooks/okta")
def hook() -> Response:
    """The same route on Flask, doing nothing: what Flask itself costs."""
    request.get_data()
    return Response(status=204)
