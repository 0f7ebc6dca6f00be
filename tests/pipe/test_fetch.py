"""The safe fetcher against the loopback internet: real HTTP(S) on 127.0.0.2, a fake DNS
through the resolver seam, every hostile case refused with a readable reason."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pipe.fetch import FetchPolicy, FetchRefused, SafeFetcher, address_problem, parse_networks
from simulator.internet import Internet

ALLOW_FIXTURE = parse_networks("127.0.0.2/32")


@pytest.fixture(scope="module")
def net() -> Iterator[Internet]:
    with Internet() as internet:
        yield internet


def fetcher(**policy) -> SafeFetcher:
    base = {"http_hosts": frozenset({"127.0.0.2"}), "allowed_networks": ALLOW_FIXTURE}
    return SafeFetcher(FetchPolicy(**{**base, **policy}))


def image(ct: str) -> bool:
    return ct.startswith("image/")


async def test_allowed_host_image_is_downloaded(net):
    got = await fetcher().fetch(net.url("/img/red.png"), image)
    assert got.content_type == "image/png" and got.data.startswith(b"\x89PNG")


async def test_plain_http_is_refused_unless_the_host_is_allowlisted(net):
    with pytest.raises(FetchRefused, match="plain http is not allowed"):
        await fetcher(http_hosts=frozenset()).fetch(net.url("/img/red.png"))


async def test_loopback_address_is_refused_even_when_http_is_allowed(net):
    policy = {"http_hosts": frozenset({"127.0.0.1"}), "allowed_networks": ()}
    with pytest.raises(FetchRefused, match="loopback"):
        await fetcher(**policy).fetch(net.url("/img/red.png", host="127.0.0.1"))


async def test_redirect_to_localhost_is_refused(net):
    url = net.url(f"/redirect/local?port={net.port}")
    with pytest.raises(FetchRefused, match=r"127\.0\.0\.1 resolves to a loopback"):
        await fetcher(http_hosts=frozenset({"127.0.0.2", "127.0.0.1"})).fetch(url, image)


async def test_redirect_on_the_same_allowed_host_is_followed(net):
    got = await fetcher().fetch(net.url("/redirect/ok"), image)
    assert got.data.startswith(b"\x89PNG")


async def test_name_resolving_to_a_private_address_is_refused(net):
    async def dns(host: str, port: int) -> list[str]:
        return {"rebind.test": ["93.184.216.34", "10.0.0.7"]}[host]

    f = SafeFetcher(FetchPolicy(http_hosts=frozenset({"rebind.test"})), resolver=dns)
    with pytest.raises(FetchRefused, match=r"rebind\.test resolves to a private address"):
        await f.fetch(f"http://rebind.test:{net.port}/img/red.png")


@pytest.mark.parametrize(
    "address",
    [
        "::ffff:127.0.0.1",
        "::ffff:10.1.2.3",
        "64:ff9b::a9fe:a9fe",
        "::1",
        "fe80::1",
        "169.254.169.254",
    ],
)
def test_embedded_and_special_addresses_are_refused(address):
    assert address_problem(ipaddress.ip_address(address)) is not None


def test_public_addresses_pass():
    assert address_problem(ipaddress.ip_address("93.184.216.34")) is None
    assert address_problem(ipaddress.ip_address("2606:4700::1111")) is None


async def test_the_connection_goes_to_the_checked_address_with_one_lookup(net):
    lookups: list[str] = []

    async def dns(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.2"]

    policy = FetchPolicy(http_hosts=frozenset({"img.test"}), allowed_networks=ALLOW_FIXTURE)
    got = await SafeFetcher(policy, resolver=dns).fetch(f"http://img.test:{net.port}/img/red.png")
    assert got.data.startswith(b"\x89PNG")
    assert lookups == ["img.test"]  # "img.test" exists nowhere else: the socket used our answer


async def test_declared_oversize_is_refused_before_reading(net):
    with pytest.raises(FetchRefused, match="too large"):
        await fetcher(max_bytes=1000).fetch(net.url("/big/declared.png"), image)


async def test_oversize_without_content_length_is_cut_while_streaming(net):
    with pytest.raises(FetchRefused, match="over 100000 bytes"):
        await fetcher(max_bytes=100_000).fetch(net.url("/big/chunked.png"), image)


async def test_slow_drip_ends_at_the_attempt_deadline(net):
    with pytest.raises(FetchRefused, match=r"took longer than 0\.5s"):
        await fetcher(total_timeout=0.5, max_retries=0).fetch(net.url("/slow.png"), image)


async def test_wrong_content_type_is_refused(net):
    with pytest.raises(FetchRefused, match="text/html, not an image"):
        await fetcher().fetch(net.url("/page.html"), image)


async def test_503_with_retry_after_is_retried(net):
    got = await fetcher(max_retries=2).fetch(net.url("/flaky.png?key=a&fail=2"), image)
    assert got.data.startswith(b"\x89PNG")
    with pytest.raises(FetchRefused, match="HTTP 503"):
        await fetcher(max_retries=0).fetch(net.url("/flaky.png?key=b&fail=1"), image)


# ---------------------------------------------------------------- TLS with a private CA


def _certs(tmp: Path) -> tuple[Path, Path, ssl.SSLContext]:
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "orsim test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "img.test")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("img.test")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = tmp / "leaf.pem", tmp / "leaf.key"
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ctx = ssl.create_default_context(cadata=ca.public_bytes(serialization.Encoding.PEM).decode())
    return cert_file, key_file, ctx


async def test_https_keeps_the_host_name_for_sni_and_certificate_check(tmp_path):
    cert, key, ctx = _certs(tmp_path)

    async def dns(host: str, port: int) -> list[str]:
        return ["127.0.0.2"]

    policy = FetchPolicy(allowed_networks=ALLOW_FIXTURE)
    with Internet(ssl_certfile=str(cert), ssl_keyfile=str(key)) as tls:
        got = await SafeFetcher(policy, resolver=dns, verify=ctx).fetch(
            f"https://img.test:{tls.port}/img/red.png", image
        )
        assert got.data.startswith(b"\x89PNG")
        # the same address under a name the certificate does not cover: TLS refuses
        with pytest.raises(FetchRefused, match="TLS failed"):
            await SafeFetcher(policy, resolver=dns, verify=ctx).fetch(
                f"https://other.test:{tls.port}/img/red.png", image
            )
