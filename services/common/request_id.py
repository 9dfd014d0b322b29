"""Every answer carries its request's id (`X-Request-ID`), the one the services log.

The gateway gives each request an id (the client's own when it is a plain token) and passes it
on; a service returns it, so a client can quote the id of an answer it got and an operator can
find every log line of that request. An id that is not a plain token is not sent back.
"""

from __future__ import annotations

import re

import falcon
import falcon.asgi

# What the gateway itself accepts from a client (nginx/gateway.conf.template).
PLAIN_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class RequestIdEcho:
    """Falcon middleware (WSGI and ASGI) setting the request's id on its response."""

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        request_id = req.get_header("X-Request-ID")
        if request_id and PLAIN_ID.fullmatch(request_id):
            resp.set_header("X-Request-ID", request_id)

    async def process_response_async(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, resource: object, req_succeeded: bool
    ) -> None:
        self.process_response(req, resp, resource, req_succeeded)
