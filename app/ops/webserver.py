"""gunicorn, started by ``certnotify serve`` as ``python -m app.ops.webserver ARGS``.

The same as ``python -m gunicorn ARGS``, except that it first arranges to die with
``serve`` (app.ops.lifeline): gunicorn's own workers follow their arbiter, and the
arbiter follows ``serve``.
"""

from __future__ import annotations

from app.ops.lifeline import die_with_parent


def main() -> None:
    die_with_parent()
    from gunicorn.app.wsgiapp import run

    run(prog="certnotify-web")


if __name__ == "__main__":
    main()
