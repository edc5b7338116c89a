"""Rate limits: how often one client, device, phone or account may do something costly.

One limiter serves every action (SMS codes, password checks, survey-token look-ups,
ratings). A limit is a fixed-window counter keyed by ``(action, key)``: the first hit
opens a window of ``window_seconds``; hits beyond ``count`` inside it are denied and told
how many seconds remain. Denied hits are still counted (they never extend the window).

Redis when configured, so that every API process shares the counters (``INCR`` and
``PEXPIRE`` in one Lua script: atomic, no check-then-set race between processes);
in-process memory otherwise (the embedded single-process default; counting happens
without an ``await`` in between, so concurrent requests cannot overshoot either).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import re
import time
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as redis
from redis.exceptions import RedisError

log = logging.getLogger("anxin.limits")

PREFIX = "anxin:limit:"
_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400}


@dataclass(frozen=True)
class Rate:
    """``count`` hits per ``window_seconds``; ``count == 0`` switches the limit off."""

    count: int
    window_seconds: int

    @classmethod
    def parse(cls, text: str) -> Rate:
        """``"10/10m"``, ``"20/1h"``, ``"5/900"`` (seconds when no unit is given)."""
        match = _SPEC.match(text)
        if match is None:
            raise ValueError(f"a rate is COUNT/WINDOW, e.g. 10/10m or 20/1h, not {text!r}")
        count, amount, unit = int(match[1]), int(match[2]), match[3]
        window = amount * _UNITS[unit]
        if window <= 0:
            raise ValueError(f"the window of {text!r} must be longer than 0 seconds")
        return cls(count, window)

    def __str__(self) -> str:
        return f"{self.count}/{self.window_seconds}s"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    count: int  # hits in this window, this one included
    retry_after: int  # seconds until the window ends (0 when allowed)


@dataclass(frozen=True)
class Client:
    """Who is calling, as far as the request tells: the client's IP (behind trusted
    proxies only, see ``api/clients.py``) and the app installation id it sends
    (``X-Anxin-Installation``; chosen by the client, so only a second line of defence)."""

    ip: str | None = None
    installation: str | None = None

    @property
    def ip_key(self) -> str:
        """What limits count per address: an IPv6 client by its /64, since one subscriber
        gets a whole /64 and could otherwise be 2**64 clients."""
        if self.ip is None:
            return "unknown"
        address = ipaddress.ip_address(self.ip)
        if address.version == 6:
            mapped = address.ipv4_mapped
            if mapped is not None:
                return str(mapped)
            return str(ipaddress.ip_network(f"{address}/64", strict=False))
        return self.ip


class RateLimiter(Protocol):
    async def hit(self, action: str, key: str, rate: Rate) -> Decision: ...

    async def reset(self, action: str, key: str) -> None: ...

    async def restart(self, action: str, key: str, rate: Rate) -> None:
        """Let the current window (its count kept) run a full window from now: a
        lockout lasts its whole time from the failure that caused it."""
        ...


def _key(action: str, key: str) -> str:
    # Keys may hold usernames or phone numbers: store a digest, never the value.
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"{PREFIX}{action}:{digest}"


def _decision(rate: Rate, count: int, remaining_ms: int) -> Decision:
    if count <= rate.count:
        return Decision(True, count, 0)
    return Decision(False, count, max(1, math.ceil(remaining_ms / 1000)))


class MemoryRateLimiter:
    """Counters in this process (the embedded default: one process, no Redis)."""

    SWEEP_AT = 10_000  # entries before expired ones are dropped

    def __init__(self) -> None:
        self._windows: dict[str, tuple[int, float]] = {}  # key -> (count, ends at)

    async def hit(self, action: str, key: str, rate: Rate) -> Decision:
        if rate.count <= 0:
            return Decision(True, 0, 0)
        now = time.monotonic()
        name = _key(action, key)
        count, ends = self._windows.get(name, (0, 0.0))
        if ends <= now:
            count, ends = 0, now + rate.window_seconds
        count += 1
        self._windows[name] = (count, ends)
        if len(self._windows) > self.SWEEP_AT:
            self._sweep(now)
        return _decision(rate, count, int((ends - now) * 1000))

    async def reset(self, action: str, key: str) -> None:
        self._windows.pop(_key(action, key), None)

    async def restart(self, action: str, key: str, rate: Rate) -> None:
        name = _key(action, key)
        if name in self._windows:
            self._windows[name] = (self._windows[name][0], time.monotonic() + rate.window_seconds)

    def _sweep(self, now: float) -> None:
        for name in [n for n, (_, ends) in self._windows.items() if ends <= now]:
            del self._windows[name]


# INCR, and start the window on the first hit; answer the count and the time left.
_HIT = """
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""


class RedisRateLimiter:
    """Counters shared by every process through Redis. While Redis is unreachable each
    process counts on its own (limits stay, per process) rather than failing the request
    or letting everything through."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._script = client.register_script(_HIT)
        self._fallback = MemoryRateLimiter()
        self._warned_at = -math.inf

    async def hit(self, action: str, key: str, rate: Rate) -> Decision:
        if rate.count <= 0:
            return Decision(True, 0, 0)
        try:
            count, remaining_ms = await self._script(
                keys=[_key(action, key)], args=[rate.window_seconds * 1000]
            )
        except RedisError as exc:
            self._warn(exc)
            return await self._fallback.hit(action, key, rate)
        return _decision(rate, int(count), int(remaining_ms))

    async def reset(self, action: str, key: str) -> None:
        await self._fallback.reset(action, key)
        try:
            await self._redis.delete(_key(action, key))
        except RedisError as exc:
            self._warn(exc)

    async def restart(self, action: str, key: str, rate: Rate) -> None:
        await self._fallback.restart(action, key, rate)
        try:
            await self._redis.pexpire(_key(action, key), rate.window_seconds * 1000)
        except RedisError as exc:
            self._warn(exc)

    def _warn(self, exc: RedisError) -> None:
        now = time.monotonic()
        if now - self._warned_at >= 60:
            self._warned_at = now
            log.warning("rate limits counted per process, Redis unreachable: %r", exc)


def build_limiter(client: redis.Redis | None) -> RateLimiter:
    return RedisRateLimiter(client) if client is not None else MemoryRateLimiter()


def wait_text(seconds: int) -> str:
    """ "30秒" / "5分钟" / "2小时": how long to wait, for a Chinese message."""
    if seconds < 120:
        return f"{seconds}秒"
    if seconds < 7200:
        return f"{math.ceil(seconds / 60)}分钟"
    return f"{math.ceil(seconds / 3600)}小时"
