"""Shared HTTP plumbing for hosted providers: one aiohttp session per provider, errors mapped once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import orjson

from shipyard.errors import ShipyardError, UpstreamError, UpstreamTimeout, upstream_status_error


class HttpClient:
    """aiohttp rather than httpx: on the gateway's hot path it costs about a third of the CPU per call."""

    def __init__(self, base_url: str, headers: dict[str, str], timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = headers
        self.timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=min(10.0, timeout))
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, keepalive_timeout=60)
            self._session = aiohttp.ClientSession(
                headers=self.headers, timeout=self.timeout, connector=connector,
                json_serialize=lambda o: orjson.dumps(o).decode(),
            )
        return self._session

    @asynccontextmanager
    async def post(self, path: str, body: dict[str, Any]) -> AsyncIterator[aiohttp.ClientResponse]:
        url = self.base_url + path
        try:
            async with self.session().post(
                url, data=orjson.dumps(body), headers={"Content-Type": "application/json"}
            ) as resp:
                if resp.status >= 400:
                    text = (await resp.read()).decode(errors="replace")
                    raise upstream_status_error(resp.status, _error_message(text))
                yield resp
        except ShipyardError:
            raise
        except TimeoutError as exc:
            raise UpstreamTimeout(f"upstream {self.base_url} did not answer in time") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamError(f"upstream {self.base_url} is unreachable: {exc.__class__.__name__}") from exc

    async def post_json(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self.post(path, body) as resp:
            try:
                return orjson.loads(await resp.read())
            except (orjson.JSONDecodeError, asyncio.IncompleteReadError, aiohttp.ClientPayloadError) as exc:
                raise UpstreamError(f"upstream {self.base_url} sent an unreadable answer") from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def _parse_event(raw: bytes) -> tuple[str | None, bytes] | None:
    event: str | None = None
    data: list[bytes] = []
    for line in raw.split(b"\n"):
        line = line.rstrip(b"\r")
        if line.startswith(b"data:"):
            data.append(line[5:].lstrip())
        elif line.startswith(b"event:"):
            event = line[6:].strip().decode()
    return (event, b"\n".join(data)) if data else None


async def sse_batches(resp: aiohttp.ClientResponse) -> AsyncIterator[list[tuple[str | None, bytes]]]:
    """Server-sent events as (event, data) pairs, grouped by the network read they arrived in.

    Relaying a group in one write, instead of one write per event, halves the gateway's CPU per
    streamed request and wakes the client once instead of once per token when tokens arrive together;
    events that arrive apart still go out at once, so time to first token is unchanged.
    """
    buffer = b""
    try:
        async for data in resp.content.iter_any():
            buffer += data
            if b"\n\n" not in buffer and b"\r\n\r\n" not in buffer:
                continue
            if b"\r\n" in buffer:
                buffer = buffer.replace(b"\r\n", b"\n")
            *complete, buffer = buffer.split(b"\n\n")
            batch = [ev for ev in map(_parse_event, complete) if ev is not None]
            if batch:
                yield batch
        last = _parse_event(buffer)
        if last is not None:
            yield [last]
    except TimeoutError as exc:
        raise UpstreamTimeout("upstream stream stalled") from exc
    except aiohttp.ClientError as exc:
        raise UpstreamError(f"upstream stream broke: {exc.__class__.__name__}") from exc


def _error_message(text: str) -> str:
    try:
        data = orjson.loads(text)
        err = data.get("error", data)
        if isinstance(err, dict):
            return str(err.get("message") or err)
        return str(err)
    except (orjson.JSONDecodeError, AttributeError):
        return text[:500]
