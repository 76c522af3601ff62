"""The baseline for bench_emulator.py: the same emulator routes, served by uvicorn + Starlette.

A minimal Starlette app whose one catch-all route hands each request to the very
``FakeGateway.respond`` that ``neureus emulator`` uses, and sends back what it answers
(a JSON body, or a chunked SSE stream). Only the HTTP server differs between the two, so
the benchmark compares servers, not route logic.

    python benchmarks/_starlette_emulator.py PORT     # serves on 127.0.0.1:PORT
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from urllib.parse import parse_qsl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from neureus.testing import FakeGateway, RecordedRequest

gateway = FakeGateway()


async def chunks(body: Iterable[object]) -> AsyncIterator[bytes]:
    for chunk in body:
        if isinstance(chunk, bytes):  # the benchmark queues no pauses or breaks
            yield chunk


async def serve(request: Request) -> Response:
    recorded = RecordedRequest(
        method=request.method,
        path=request.url.path,
        query=dict(parse_qsl(request.url.query)),
        headers={k.lower(): v for k, v in request.headers.items()},
        body=await request.body(),
    )
    answer = gateway.respond(recorded)
    assert not isinstance(answer, str)
    if isinstance(answer.body, bytes):
        return Response(answer.body, status_code=answer.status, headers=answer.headers)
    return StreamingResponse(chunks(answer.body), status_code=answer.status, headers=answer.headers)


app = Starlette(routes=[Route("/{path:path}", serve, methods=["GET", "POST", "PUT", "DELETE"])])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
