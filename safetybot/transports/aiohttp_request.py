"""python-telegram-bot's HTTP layer on aiohttp instead of httpx.

Measured (benchmarks/, the bot process alone): PTB's default `HTTPXRequest` spends 2 to 3.5 ms
of CPU per Bot API call on loopback, and more the more calls are in flight (httpcore scans its
whole pool for each request and tries to import `sniffio` on each); aiohttp, already a
dependency for webhook mode, spends about 0.3 ms. Safetybot makes about two calls per update
(a press is answered so its spinner stops, a command is deleted once read), so the HTTP client
was most of the bot's CPU. PTB supports replacing it through its `BaseRequest` interface; this
is only that glue: aiohttp does the HTTP.

Errors keep PTB's meaning, which `telegram.py`'s retry rules depend on: any timeout is
`TimedOut` (a send that timed out may have been delivered, so it is not repeated), any other
connection failure is `NetworkError`. aiohttp never repeats a POST by itself.
"""

from __future__ import annotations

import ssl

import aiohttp
import certifi
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

__all__ = ["AiohttpRequest"]


class AiohttpRequest(BaseRequest):
    """A `BaseRequest` over one aiohttp session with a bounded connection pool."""

    def __init__(
        self,
        *,
        connections: int = 64,
        read_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 5.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        self._connections = connections
        self._read_timeout = read_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        """The default read timeout (PTB adds it to getUpdates' long-poll timeout)."""
        return self._read_timeout

    async def initialize(self) -> None:
        """Open the session (again, after a shutdown)."""
        if self._session is None or self._session.closed:
            # The same certificate authorities httpx trusted (certifi's), whatever the host has.
            context = ssl.create_default_context(cafile=certifi.where())
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections, ssl=context),
                # The Bot API sets no cookies; none are kept.
                cookie_jar=aiohttp.DummyCookieJar(),
                headers={"User-Agent": self.USER_AGENT},
            )

    async def shutdown(self) -> None:
        """Close the session and its connections."""
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Make one request; return the status code and the body."""
        session = self._session
        if session is None or session.closed:
            raise RuntimeError("AiohttpRequest is not initialized")
        data: aiohttp.FormData | dict[str, str] | None = None
        uploading = request_data is not None and request_data.contains_files
        if request_data is not None:
            data = _form(request_data) if uploading else request_data.json_parameters
        read = _pick(read_timeout, self._read_timeout)
        if uploading:
            # aiohttp has no write timeout; an upload's time goes against the read timeout.
            write = _pick(write_timeout, self._media_write_timeout)
            read = None if read is None or write is None else read + write
        connect = _pick(connect_timeout, self._connect_timeout)
        pool = _pick(pool_timeout, self._pool_timeout)
        timeout = aiohttp.ClientTimeout(
            total=None,
            # aiohttp's `connect` covers waiting for a free connection and opening it.
            connect=None if connect is None or pool is None else connect + pool,
            sock_connect=connect,
            sock_read=read,
        )
        try:
            async with session.request(method, url, data=data, timeout=timeout) as response:
                return response.status, await response.read()
        except TimeoutError as error:  # aiohttp's timeouts are TimeoutErrors too
            raise TimedOut from error
        except (aiohttp.ClientError, OSError) as error:
            # The class only: aiohttp's messages can quote the URL, which holds the bot token.
            raise NetworkError(f"aiohttp.{type(error).__name__}") from error


def _pick(given: ODVInput[float], default: float | None) -> float | None:
    return default if isinstance(given, DefaultValue) else given


def _form(request_data: RequestData) -> aiohttp.FormData:
    """multipart/form-data: the plain parameters, then each file with its name and type."""
    form = aiohttp.FormData()
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, (filename, content, mime) in request_data.multipart_data.items():
        form.add_field(name, content, filename=filename, content_type=mime)
    return form
