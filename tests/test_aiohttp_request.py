"""The Bot API's HTTP layer on aiohttp: uploads, errors in PTB's terms, and TLS that is checked."""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from telegram import Bot
from telegram.error import NetworkError, TimedOut

from safetybot.transports.aiohttp_request import AiohttpRequest
from safetybot.transports.telegram import make_request
from tests.fakebotapi import FakeBotAPI

TOKEN = "123456789:TESTtokenABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _self_signed(folder: Path) -> ssl.SSLContext:
    """A server context with a certificate for 127.0.0.1 that no authority signed."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .sign(key, hashes.SHA256())
    )
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context


@pytest.fixture
async def impostor(tmp_path: Path) -> AsyncIterator[str]:
    """An HTTPS server pretending to be the Bot API, with a certificate nobody vouches for."""
    app = web.Application()

    async def answer(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "result": True})

    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=_self_signed(tmp_path))
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_a_server_whose_certificate_is_not_trusted_gets_nothing(impostor: str) -> None:
    request = make_request(2.0)
    await request.initialize()
    try:
        with pytest.raises(NetworkError, match=r"(?i)certificate") as raised:
            await request.post(f"{impostor}/bot{TOKEN}/getMe")
        assert not isinstance(raised.value, TimedOut)
    finally:
        await request.shutdown()


async def test_a_document_is_uploaded_with_its_name_and_type() -> None:
    async with FakeBotAPI() as fake:
        bot = Bot(TOKEN, base_url=f"{fake.url}/bot", request=make_request(2.0))
        await bot.initialize()
        fake.user_sends(42, "hello")
        await bot.send_document(42, b"%PDF-1.7 evidence", filename="notes.pdf", caption="x")
        await bot.shutdown()
        (call,) = [c for c in fake.calls if c.method == "sendDocument"]
        upload = call.params["document"]
        assert upload.filename == "notes.pdf"
        assert upload.data == b"%PDF-1.7 evidence"


async def test_an_answer_slower_than_the_timeout_is_a_timeout() -> None:
    async with FakeBotAPI() as fake:
        bot = Bot(TOKEN, base_url=f"{fake.url}/bot", request=make_request(0.5))
        await bot.initialize()
        fake.user_sends(42, "hello")
        fake.delay_next("sendMessage", 1.5)
        with pytest.raises(TimedOut):
            await bot.send_message(42, "hi")
        await bot.shutdown()


async def test_a_request_before_initialize_is_refused_plainly() -> None:
    request = AiohttpRequest()
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request("http://127.0.0.1:9/", "POST")
