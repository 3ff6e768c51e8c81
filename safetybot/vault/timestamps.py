"""RFC 3161 time stamps on an export's manifest, from a time-stamping authority (TSA).

The organization names a TSA with SAFETYBOT_TSA_URL. At export, the SHA-256 of MANIFEST.txt is
sent to it (nothing else: no note, no name) and its signed answer is kept as MANIFEST.tsr. That
answer shows that the manifest, and so every file it lists, existed at the TSA's time. A TSA
that does not answer, or answers wrongly, leaves the export without a time stamp; it is never a
reason not to make the export.

rfc3161-client (Trail of Bits) builds the request and checks the answer; it does no network
work, so the one HTTP POST is here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from rfc3161_client import (
    HashAlgorithm,
    PKIStatus,
    TimestampRequestBuilder,
    TimeStampResponse,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)

__all__ = ["Stamp", "TimestampError", "check_timestamp", "request_timestamp"]

TIMEOUT = 10.0  # seconds a person waits for their export at most, on the TSA's account
_MAX_ANSWER = 64 * 1024


class TimestampError(Exception):
    """The TSA gave no usable time stamp; the message says why, without personal data."""


@dataclass(frozen=True)
class Stamp:
    """What a time stamp says, and what checking it found."""

    time: dt.datetime
    tsa: str  # the subject of the certificate that signed it
    trusted: bool  # its certificate chains to a root the checker was given
    problem: str | None = None


def request_timestamp(url: str, manifest: bytes, timeout: float = TIMEOUT) -> bytes:
    """The TSA's DER answer for `manifest`, checked; TimestampError when there is none."""
    request = (
        TimestampRequestBuilder()
        .data(manifest)
        .hash_algorithm(HashAlgorithm.SHA256)
        .nonce(nonce=True)
        .cert_request(cert_request=True)
        .build()
    )
    post = urllib.request.Request(  # noqa: S310 - the URL is the organization's setting, http(s) only
        url,
        data=request.as_bytes(),
        headers={"Content-Type": "application/timestamp-query"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(post, timeout=timeout) as answer:  # noqa: S310 - as above
            body = bytes(answer.read(_MAX_ANSWER + 1))
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise TimestampError(
            f"the time-stamping service did not answer ({type(error).__name__})"
        ) from None
    if len(body) > _MAX_ANSWER:
        raise TimestampError("the time-stamping service's answer is too large")
    response = _decode(body)
    if response is None or PKIStatus(response.status) not in (
        PKIStatus.GRANTED,
        PKIStatus.GRANTED_WITH_MODS,
    ):
        raise TimestampError("the time-stamping service refused or sent something else")
    if response.tst_info.nonce != request.nonce:
        raise TimestampError("the time-stamping service answered another request")
    stamp = check_timestamp(body, manifest, ())
    if stamp.problem is not None:
        raise TimestampError("the time-stamping service stamped something else")
    return body


def check_timestamp(data: bytes, manifest: bytes, roots: Sequence[x509.Certificate]) -> Stamp:
    """Check MANIFEST.tsr against the manifest; with `roots`, its certificate chain too.

    Without roots only what it says is read (its time, that it is for this manifest): who
    signed it, and so whether it is a TSA's at all, needs a root certificate the checker trusts.
    """
    response = _decode(data)
    if response is None or response.status not in (PKIStatus.GRANTED, PKIStatus.GRANTED_WITH_MODS):
        return Stamp(_EPOCH, "", trusted=False, problem="MANIFEST.tsr is not a time stamp")
    info = response.tst_info
    when = info.gen_time if info.gen_time.tzinfo else info.gen_time.replace(tzinfo=dt.UTC)
    carried = [_certificate(c) for c in response.signed_data.certificates]
    certificates = [c for c in carried if c is not None]
    leaf = _signer(response, certificates)
    name = leaf.subject.rfc4514_string() if leaf is not None else ""
    if info.message_imprint.message != hashlib.sha256(manifest).digest():
        problem = "the time stamp (MANIFEST.tsr) is for another manifest, not this MANIFEST.txt"
        return Stamp(when, name, trusted=False, problem=problem)
    if not roots:  # who signed it can only be known from a root the checker trusts
        return Stamp(when, name, trusted=False)
    builder = VerifierBuilder(
        roots=list(roots), intermediates=[c for c in certificates if c != leaf]
    )
    try:
        builder.build().verify(response, hashlib.sha256(manifest).digest())
    except (VerificationError, ValueError):
        problem = (
            "the time stamp (MANIFEST.tsr) does not check: it was not signed by a "
            "time-stamping service under the root certificate given, or it was changed"
        )
        return Stamp(when, name, trusted=False, problem=problem)
    return Stamp(when, name, trusted=True)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _decode(data: bytes) -> TimeStampResponse | None:
    try:
        return decode_timestamp_response(data)
    except Exception:  # the Rust parser raises several types for one cause: not a TSA answer
        return None


def _certificate(der: bytes) -> x509.Certificate | None:
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError:
        return None


def _signer(
    response: TimeStampResponse, certificates: Sequence[x509.Certificate]
) -> x509.Certificate | None:
    # The signer is named by issuer and serial number inside the signed part.
    for info in response.signed_data.signer_infos:
        for certificate in certificates:
            if (
                certificate.issuer == info.issuer
                and certificate.serial_number == info.serial_number
            ):
                return certificate
    return None
