"""The one downloader for every URL the pipe itself fetches (remote images it inlines).

Safety rules, each enforced per hop (the first URL and every redirect target):
- https only, unless the host is on the operator's plain-http allowlist;
- the host name is resolved once, by the resolver seam, and EVERY address it resolves to must
  be public (private, loopback, link-local, multicast, reserved, unspecified, shared/CGNAT and
  IPv4-mapped/NAT64/6to4 forms of those are refused) unless it lies in a network the operator
  explicitly allowed;
- the connection is then made to that checked address literally (the URL's host is replaced by
  the IP, with `Host` and the TLS SNI/certificate name kept as the original host), so no second
  DNS lookup happens and a rebinding DNS answer cannot redirect the socket;
- no proxy from the environment is used (a proxy would resolve the name itself);
- redirects are followed by hand, at most `max_redirects`, each target checked again;
- the size cap applies to Content-Length and again to the bytes actually read;
- each attempt has connect/read timeouts and a whole-attempt deadline (a slow drip ends);
- 408/425/429/5xx and network errors are retried, honouring Retry-After within a budget.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

import httpx

from .errors import parse_retry_after
from .logs import get_logger

Resolver = Callable[[str, int], Awaitable[list[str]]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# IPv6 ranges that embed an IPv4 address: the embedded one is what the packet really reaches.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT, not globally routable


class FetchRefused(Exception):
    """A URL the pipe will not (or could not) download; `reason` is safe to show the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class FetchPolicy:
    max_bytes: int = 10 * 1024 * 1024
    http_hosts: frozenset[str] = frozenset()  # hosts allowed over plain http
    allowed_networks: tuple[IPNetwork, ...] = ()  # internal networks the operator trusts
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    total_timeout: float = 30.0  # one attempt, headers to last byte
    max_retries: int = 2
    retry_budget: float = 10.0  # longest total wait across retries
    max_redirects: int = 3
    user_agent: str = "OpenRouter-Responses-Pipe/1.0 (+Open WebUI)"


@dataclass(frozen=True)
class Fetched:
    url: str
    content_type: str
    data: bytes = field(repr=False)


def parse_networks(text: str) -> tuple[IPNetwork, ...]:
    """A comma-separated CIDR list (a bad entry is ignored, with a warning)."""
    out: list[IPNetwork] = []
    for part in (p.strip() for p in (text or "").split(",")):
        if not part:
            continue
        try:
            out.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            get_logger().warning("ignoring invalid network %r in the fetch allowlist", part)
    return tuple(out)


def parse_hosts(text: str) -> frozenset[str]:
    return frozenset(h.strip().lower().rstrip(".") for h in (text or "").split(",") if h.strip())


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    # IPv4-compatible (deprecated) ::a.b.c.d
    if int(ip) >> 32 == 0 and int(ip) > 1:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_problem(ip: IPAddress, allowed: Iterable[IPNetwork] = ()) -> str | None:
    """Why this address must not be contacted, or None when it is public (or allowed)."""
    if any(ip.version == net.version and ip in net for net in allowed):
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            problem = address_problem(inner, allowed)
            return f"{problem} (embedded in an IPv6 address)" if problem else None
    for label, flag in (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
        ("shared (carrier-grade NAT)", isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED),
        ("not globally routable", not ip.is_global),
    ):
        if flag:
            return label
    return None


async def system_resolver(host: str, port: int) -> list[str]:
    """Every A/AAAA address of `host` (the default resolver; tests inject their own)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[str] = []
    for info in infos:
        addr = str(info[4][0]).split("%", 1)[0]
        if addr not in seen:
            seen.append(addr)
    return seen


def _tls_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class _Retry(Exception):
    def __init__(self, reason: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wait = wait


class SafeFetcher:
    """Downloads one URL at a time under a `FetchPolicy`. `resolver` and `verify` are seams for
    tests (a fake DNS, a private CA); production uses the system resolver and default CAs."""

    def __init__(
        self,
        policy: FetchPolicy,
        *,
        resolver: Resolver | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.policy = policy
        self._resolve = resolver or system_resolver
        self._verify = verify

    async def fetch(self, url: str, accept: Callable[[str], bool] = lambda _ct: True) -> Fetched:
        """The body of `url`, or FetchRefused with a reason the user can read."""
        policy = self.policy
        attempt = 0
        waited = 0.0
        while True:
            try:
                return await self._follow(url, accept)
            except _Retry as retry:
                attempt += 1
                wait = retry.wait if retry.wait is not None else 0.5 * 2 ** (attempt - 1)
                if attempt > policy.max_retries or waited + wait > policy.retry_budget:
                    raise FetchRefused(retry.reason) from None
                get_logger().info("fetch retry %d in %.2fs: %s", attempt, wait, retry.reason)
                await asyncio.sleep(wait)
                waited += wait

    async def _follow(self, url: str, accept: Callable[[str], bool]) -> Fetched:
        current = self._parse(url)
        # No keep-alive: a pooled connection opened for one host name must never serve another.
        async with httpx.AsyncClient(
            verify=self._verify,
            trust_env=False,
            follow_redirects=False,
            limits=httpx.Limits(max_keepalive_connections=0),
            timeout=httpx.Timeout(
                connect=self.policy.connect_timeout,
                read=self.policy.read_timeout,
                write=self.policy.read_timeout,
                pool=self.policy.connect_timeout,
            ),
        ) as client:
            for _hop in range(self.policy.max_redirects + 1):
                try:
                    async with asyncio.timeout(self.policy.total_timeout):
                        result = await self._one_hop(client, current, accept)
                except TimeoutError:
                    raise _Retry(
                        f"{current.host} took longer than {self.policy.total_timeout:g}s"
                    ) from None
                if isinstance(result, Fetched):
                    return result
                current = self._parse(str(current.join(result)))
        raise FetchRefused(f"too many redirects (more than {self.policy.max_redirects})")

    def _parse(self, url: str) -> httpx.URL:
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError, ValueError):
            raise FetchRefused("the address is not a valid URL") from None
        host = (parsed.host or "").lower().rstrip(".")
        if not host:
            raise FetchRefused("the address has no host")
        if parsed.userinfo:
            raise FetchRefused("addresses with a user name or password are not fetched")
        if parsed.scheme == "https":
            return parsed
        if parsed.scheme == "http":
            if host in self.policy.http_hosts:
                return parsed
            raise FetchRefused(f"plain http is not allowed for {host} (https only)")
        raise FetchRefused(f"the {parsed.scheme or 'missing'} scheme is not supported")

    async def _checked_address(self, host: str, port: int) -> str:
        try:
            literal: IPAddress | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            addresses = [str(literal)]
        else:
            try:
                addresses = await self._resolve(host, port)
            except (OSError, UnicodeError) as exc:
                raise FetchRefused(f"{host} could not be resolved ({type(exc).__name__})") from None
            if not addresses:
                raise FetchRefused(f"{host} has no address")
        for text in addresses:
            try:
                ip = ipaddress.ip_address(text)
            except ValueError:
                raise FetchRefused(f"{host} resolved to an invalid address") from None
            problem = address_problem(ip, self.policy.allowed_networks)
            if problem:
                raise FetchRefused(f"{host} resolves to a {problem} address ({ip})")
        return addresses[0]

    async def _one_hop(
        self, client: httpx.AsyncClient, url: httpx.URL, accept: Callable[[str], bool]
    ) -> Fetched | str:
        """The body, or the Location of a redirect."""
        host = (url.host or "").lower().rstrip(".")
        port = url.port or (443 if url.scheme == "https" else 80)
        address = await self._checked_address(host, port)
        host_header = host if url.port is None else f"{host}:{url.port}"
        request = client.build_request(
            "GET",
            url.copy_with(host=address),
            headers={
                "Host": host_header,
                "User-Agent": self.policy.user_agent,
                "Accept-Encoding": "identity",
            },
            extensions={"sni_hostname": host},
        )
        try:
            response = await client.send(request, stream=True)
        except httpx.TimeoutException:
            raise _Retry(f"{host} did not answer in time") from None
        except httpx.HTTPError as exc:
            if _tls_failure(exc):
                raise FetchRefused(f"{host}: TLS failed ({exc})") from None
            raise _Retry(f"{host} could not be reached ({type(exc).__name__})") from None
        try:
            return await self._read(response, url, host, accept)
        finally:
            await response.aclose()

    async def _read(
        self, response: httpx.Response, url: httpx.URL, host: str, accept: Callable[[str], bool]
    ) -> Fetched | str:
        status = response.status_code
        if status in REDIRECT_STATUSES:
            location = str(response.headers.get("location") or "")
            if not location:
                raise FetchRefused(f"{host} sent a redirect without a Location")
            return location
        if status in RETRY_STATUSES:
            raise _Retry(
                f"{host} answered HTTP {status}",
                parse_retry_after(response.headers.get("retry-after")),
            )
        if status != 200:
            raise FetchRefused(f"{host} answered HTTP {status}")
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if not accept(content_type):
            raise FetchRefused(f"{host} sent {content_type or 'no content type'}, not an image")
        cap = self.policy.max_bytes
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > cap:
            raise FetchRefused(f"the file is too large ({int(declared)} bytes; limit {cap})")
        body = bytearray()
        try:
            async for chunk in response.aiter_bytes():
                body.extend(chunk)
                if len(body) > cap:
                    raise FetchRefused(f"the file is too large (over {cap} bytes)")
        except httpx.TimeoutException:
            raise _Retry(f"{host} stopped sending") from None
        except httpx.HTTPError as exc:
            raise _Retry(f"{host} broke the download ({type(exc).__name__})") from None
        return Fetched(url=str(url), content_type=content_type, data=bytes(body))
