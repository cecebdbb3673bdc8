"""Limits on a request's head, enforced where its bytes arrive: `uvicorn --http app.core.http.server:Protocol`.

uvicorn's httptools protocol (the one it picks when httptools is installed, as here) has no limit of its
own: httptools keeps appending a header's bytes until its line ends, so one 32 MB header was read whole
into memory, and 100,000 headers became 100,000 tuples in the ASGI scope, before the app saw either.
This protocol counts the head's bytes as they are read and its headers as they are parsed, and past
HTTP_MAX_HEADER_BYTES or HTTP_MAX_HEADERS answers 431 and closes the connection without calling the app.

What the server has spent by then: at most the limit plus one read of the socket (asyncio reads up to
256 KB at a time), and the headers parsed so far. (uvicorn's h11 protocol, `--http h11`, answers 400 to a
head over its `--h11-max-incomplete-event-size`, 16 KB by default; it has no count limit, but 16 KB holds at
most a few thousand headers.) Without either, uvicorn read a 32 MB header whole in about 7 s and answered 200.
"""

import json
import logging
from functools import cache
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.core.config import get_settings

# The service's error shape, as every other refusal has it (docs/errors.md).
HEADERS_TOO_LARGE = "request_headers_too_large"
_REFUSAL = json.dumps(
    {"code": HEADERS_TOO_LARGE, "detail": "The request's line and headers are larger, or more, than the server takes."}
).encode()


logger = logging.getLogger("app.server")


class HeadTooLarge(Exception):
    """Raised inside the parser's callbacks to stop parsing a head over the limits (httptools stops, and
    uvicorn answers what it raised through `send_400_response`)."""


@cache
def _limits() -> tuple[int, int]:
    """HTTP_MAX_HEADER_BYTES and HTTP_MAX_HEADERS, from the settings the app runs with."""
    settings = get_settings()
    return settings.http_max_header_bytes, settings.http_max_headers


class Protocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with a limit on the size and the number of a request's headers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_head_bytes, self.max_headers = _limits()
        self._in_head = False
        self._head_bytes = 0  # read since the head began, not counting the read it began in
        self._parsed_bytes = 0  # of the request line's target and the headers parsed whole
        self._header_count = 0
        self._began_in_this_read = False
        self._too_large: str | None = None  # why the parser was stopped
        self._refused = False

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # what a refused client still sends is dropped unread
        self._began_in_this_read = False
        super().data_received(data)  # a limit met in a callback ends up in send_400_response
        if self._in_head and not self._refused:
            # The read the head began in may hold the previous request's end: it is left out, so a head
            # is never refused for bytes that are not its own (it may grow by one read beyond the limit).
            if not self._began_in_this_read:
                self._head_bytes += len(data)
            if self._head_bytes > self.max_head_bytes:
                self._refuse(f"a request head over {self.max_head_bytes} bytes")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._began_in_this_read = True
        self._head_bytes = self._parsed_bytes = self._header_count = 0

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.max_headers:
            self._stop(f"more than {self.max_headers} headers")
        self._count(len(name) + len(value) + 4)  # "name: value\r\n", as the bytes limit counts them
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def _count(self, size: int) -> None:
        self._parsed_bytes += size
        if self._parsed_bytes > self.max_head_bytes:
            self._stop(f"a request head over {self.max_head_bytes} bytes")

    def _stop(self, why: str) -> None:
        self._too_large = why
        raise HeadTooLarge(why)

    def send_400_response(self, msg: str) -> None:
        """uvicorn answers any error raised while parsing with a 400 (after a warning "Invalid HTTP request
        received."); a head stopped by the limits is a 431."""
        if self._too_large is not None:
            self._refuse(self._too_large)
        else:
            super().send_400_response(msg)

    def _refuse(self, why: str) -> None:
        self._refused = True
        self._in_head = False
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "?"
        logger.warning("431 to %s: %s; connection closed", client, why)
        if self.cycle is None or self.cycle.response_complete:  # else a response is being written: just close
            body = _REFUSAL
            self.transport.write(
                b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
                b"content-type: application/json\r\n"
                b"content-length: " + str(len(body)).encode() + b"\r\n"
                b"connection: close\r\n\r\n" + body
            )
        self.transport.close()
