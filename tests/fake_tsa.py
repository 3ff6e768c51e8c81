"""A local time-stamping authority for the tests: real RFC 3161 answers, on 127.0.0.1.

It makes a test CA and a TSA certificate with cryptography, and answers each TimeStampReq with
a TimeStampResp whose token is CMS SignedData over a TSTInfo (RFC 3161 section 2.4.2), signed
with ECDSA P-256 and carrying the signing-certificate-v2 attribute (RFC 5816). The DER is
written by hand below: cryptography signs, but does not write TSTInfo.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from rfc3161_client import _rust as tsp_rust

# -- DER, just what a time stamp needs ------------------------------------------------------------


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def tlv(tag: int, content: bytes) -> bytes:
    """One DER element."""
    return bytes([tag]) + _length(len(content)) + content


def seq(*parts: bytes) -> bytes:
    """A SEQUENCE."""
    return tlv(0x30, b"".join(parts))


def set_of(*parts: bytes) -> bytes:
    """A SET OF, sorted as DER requires."""
    return tlv(0x31, b"".join(sorted(parts)))


def integer(value: int) -> bytes:
    """An INTEGER."""
    raw = value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True)
    return tlv(0x02, raw)


def oid(dotted: str) -> bytes:
    """An OBJECT IDENTIFIER."""
    numbers = [int(n) for n in dotted.split(".")]
    out = bytearray([numbers[0] * 40 + numbers[1]])
    for number in numbers[2:]:
        chunk = [number & 0x7F]
        number >>= 7
        while number:
            chunk.append(0x80 | (number & 0x7F))
            number >>= 7
        out += bytes(reversed(chunk))
    return tlv(0x06, bytes(out))


def octets(data: bytes) -> bytes:
    """An OCTET STRING."""
    return tlv(0x04, data)


def explicit(number: int, content: bytes) -> bytes:
    """[number] EXPLICIT."""
    return tlv(0xA0 + number, content)


SHA256 = "2.16.840.1.101.3.4.2.1"
ECDSA_SHA256 = "1.2.840.10045.4.3.2"
SIGNED_DATA = "1.2.840.113549.1.7.2"
TST_INFO = "1.2.840.113549.1.9.16.1.4"
CONTENT_TYPE = "1.2.840.113549.1.9.3"
MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
SIGNING_CERTIFICATE_V2 = "1.2.840.113549.1.9.16.2.47"
POLICY = "1.3.6.1.4.1.99999.1"  # a private arc: the test policy


# -- the CA and the TSA --------------------------------------------------------------------------


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


@dataclass
class FakeTSA:
    """A CA, a TSA certificate it issued, and the answers: sign all, or fail in a chosen way."""

    root: x509.Certificate
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    mode: str = "ok"  # "ok", "error" (HTTP 500), "garbage", "slow", "other" (wrong imprint)
    requests: int = 0

    @classmethod
    def make(cls) -> FakeTSA:
        """A fresh CA and TSA, valid from a year ago for two years."""
        start = dt.datetime.now(dt.UTC) - dt.timedelta(days=365)
        end = start + dt.timedelta(days=730)
        root_key = ec.generate_private_key(ec.SECP256R1())
        root = (
            x509.CertificateBuilder()
            .subject_name(_name("Test Time Root"))
            .issuer_name(_name("Test Time Root"))
            .public_key(root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False
            )
            .sign(root_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        leaf = (
            x509.CertificateBuilder()
            .subject_name(_name("Test TSA"))
            .issuer_name(root.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
            )
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
                critical=False,
            )
            .sign(root_key, hashes.SHA256())
        )
        return cls(root=root, certificate=leaf, key=key)

    def root_pem(self) -> bytes:
        """The CA certificate, as a verifier is given it."""
        return self.root.public_bytes(serialization.Encoding.PEM)

    def answer(self, request_der: bytes) -> bytes:
        """A TimeStampResp (granted) for a TimeStampReq."""
        request = tsp_rust.parse_timestamp_request(request_der)
        imprint = request.message_imprint.message
        if self.mode == "other":
            imprint = hashlib.sha256(b"another manifest").digest()
        self.requests += 1
        when = self.now.strftime("%Y%m%d%H%M%SZ").encode()
        parts = [
            integer(1),
            oid(POLICY),
            seq(seq(oid(SHA256)), octets(imprint)),
            integer(self.requests),
            tlv(0x18, when),
        ]
        if request.nonce is not None:
            parts.append(integer(request.nonce))
        tst_info = seq(*parts)
        return seq(seq(integer(0)), self._token(tst_info))

    def _token(self, tst_info: bytes) -> bytes:
        cert_der = self.certificate.public_bytes(serialization.Encoding.DER)
        ess = seq(seq(seq(octets(hashlib.sha256(cert_der).digest()))))
        attributes = [
            seq(oid(CONTENT_TYPE), set_of(oid(TST_INFO))),
            seq(oid(MESSAGE_DIGEST), set_of(octets(hashlib.sha256(tst_info).digest()))),
            seq(oid(SIGNING_CERTIFICATE_V2), set_of(ess)),
        ]
        signed_attributes = set_of(*attributes)  # signed as a SET (tag 0x31)
        signature = self.key.sign(signed_attributes, ec.ECDSA(hashes.SHA256()))
        issuer = self.certificate.issuer.public_bytes()
        signer = seq(
            integer(1),
            seq(issuer, integer(self.certificate.serial_number)),
            seq(oid(SHA256)),
            b"\xa0" + signed_attributes[1:],  # [0] IMPLICIT in the SignerInfo
            seq(oid(ECDSA_SHA256)),
            octets(signature),
        )
        signed_data = seq(
            integer(3),
            set_of(seq(oid(SHA256))),
            seq(oid(TST_INFO), explicit(0, octets(tst_info))),
            explicit(0, cert_der),  # [0] IMPLICIT SET OF Certificate
            set_of(signer),
        )
        return seq(oid(SIGNED_DATA), explicit(0, signed_data))


@asynccontextmanager
async def serve(tsa: FakeTSA) -> AsyncIterator[str]:
    """Serve `tsa` over HTTP on 127.0.0.1; yields its URL."""
    import asyncio

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        if tsa.mode == "error":
            return web.Response(status=500, text="down for maintenance")
        if tsa.mode == "garbage":
            return web.Response(body=b"<html>not a time stamp</html>")
        if tsa.mode == "slow":
            await asyncio.sleep(2)
        return web.Response(body=tsa.answer(body), content_type="application/timestamp-reply")

    app = web.Application()
    app.router.add_post("/tsr", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield f"http://127.0.0.1:{port}/tsr"
    finally:
        await runner.cleanup()
