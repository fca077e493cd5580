"""RFC 3161 trusted time: a timestamp authority (TSA) signs a file's SHA-256; anyone can check it later.

The ASN.1 and CMS work (building the TimeStampReq, parsing the TimeStampResp, checking the PKCS #7 signature
and the TSA certificate's chain and timeStamping key usage) is done by rfc3161-client, a maintained library
(Trail of Bits, used by sigstore-python) rather than by hand. A ``.tsr`` file holds the TSA's whole DER
TimeStampResp (status and token), the form ``openssl ts -reply`` writes and ``openssl ts -verify -in`` reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

import requests
from cryptography import x509
from rfc3161_client import (
    HashAlgorithm,
    PKIStatus,
    TimeStampRequest,
    TimestampRequestBuilder,
    TimeStampResponse,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)

from archive.config import Settings
from archive.net.http import make_session, one_line

SHA256_OID = x509.ObjectIdentifier("2.16.840.1.101.3.4.2.1")
QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"


class TimestampError(Exception):
    """A timestamp that could not be had or does not hold; the message is one line for the user."""


@dataclass(frozen=True)
class Stamp:
    """A granted timestamp: the TSA asked, the DER TimeStampResp to keep, and the time it vouches for."""

    tsa_url: str
    der: bytes
    gen_time: datetime


class TimestampAuthority(Protocol):
    """Something that signs the SHA-256 of some bytes with a trusted time."""

    url: str

    def stamp(self, data: bytes) -> Stamp:
        """A checked timestamp of the SHA-256 of data; TimestampError when none can be had."""
        ...


class HttpTimestampAuthority:
    """An RFC 3161 TSA reached over HTTP (RFC 3161 section 3.4: POST of application/timestamp-query)."""

    def __init__(self, url: str, session: requests.Session, *, timeout: float = 30.0,
                 roots: Sequence[x509.Certificate] = ()) -> None:
        self.url = url
        self.session = session
        self.timeout = timeout
        self.roots = list(roots)

    def stamp(self, data: bytes) -> Stamp:
        """Ask for a token over data's SHA-256 (with a nonce and the TSA certificate) and check the answer.

        rfc3161-client hashes the bytes itself (it takes no precomputed digest), so data is the whole file.
        With roots, the signature is checked too, so a token that would not verify is never stored.
        """
        if not data:
            raise TimestampError("cannot timestamp an empty file")
        request = (TimestampRequestBuilder().data(data).hash_algorithm(HashAlgorithm.SHA256)
                   .nonce(nonce=True).cert_request(cert_request=True).build())
        try:
            reply = self.session.post(self.url, data=request.as_bytes(), timeout=self.timeout,
                                      headers={"Content-Type": QUERY_TYPE, "Accept": REPLY_TYPE})
        except requests.Timeout:
            raise TimestampError(f"TSA {self.url}: no answer in {self.timeout:g}s") from None
        except requests.ConnectionError:
            raise TimestampError(f"TSA {self.url}: cannot connect") from None
        except requests.RequestException as exc:
            raise TimestampError(f"TSA {self.url}: {one_line(str(exc)) or type(exc).__name__}") from None
        if reply.status_code != 200:
            raise TimestampError(f"TSA {self.url} answered HTTP {reply.status_code}")
        response = parse_response(reply.content, f"TSA {self.url}")
        check_answer(response, request, f"TSA {self.url}")
        if self.roots:
            check_signature(response, request.message_imprint.message, self.roots, f"TSA {self.url}")
        return Stamp(self.url, reply.content, response.tst_info.gen_time)


def parse_response(der: bytes, what: str) -> TimeStampResponse:
    """A DER TimeStampResp decoded, or TimestampError naming what gave it."""
    try:
        return decode_timestamp_response(der)
    except ValueError as exc:
        raise TimestampError(f"{what}: not a timestamp response ({one_line(str(exc), 120)})") from None


def _check_granted(response: TimeStampResponse, what: str) -> None:
    if response.status != PKIStatus.GRANTED:
        text = "; ".join(response.status_string) or f"status {response.status}"
        raise TimestampError(f"{what} refused the request: {one_line(text, 200)}")


def _check_imprint(response: TimeStampResponse, sha256: bytes, what: str) -> None:
    imprint = response.tst_info.message_imprint
    if imprint.hash_algorithm != SHA256_OID:
        raise TimestampError(f"{what}: the token is over {imprint.hash_algorithm.dotted_string}, not SHA-256")
    if imprint.message != sha256:
        raise TimestampError(f"{what}: the token is for other bytes (SHA-256 {imprint.message.hex()[:16]}...)")


def check_answer(response: TimeStampResponse, request: TimeStampRequest, what: str) -> None:
    """The answer grants a token for the request: status granted, same SHA-256 imprint, same nonce."""
    _check_granted(response, what)
    _check_imprint(response, request.message_imprint.message, what)
    if response.tst_info.nonce != request.nonce:
        raise TimestampError(f"{what}: the token's nonce is not the request's (a replayed answer?)")


def check_signature(response: TimeStampResponse, sha256: bytes, roots: Sequence[x509.Certificate],
                    what: str) -> None:
    """The token is signed by a timeStamping certificate that chains to one of roots, over sha256."""
    try:
        VerifierBuilder(roots=list(roots)).build().verify(response, sha256)
    except VerificationError as exc:
        raise TimestampError(f"{what}: does not verify: {one_line(str(exc), 200)}") from None


def token_time(der: bytes, sha256: bytes, what: str) -> datetime:
    """A kept token's time once it is granted and for this SHA-256, its signature not yet checked."""
    response = parse_response(der, what)
    _check_granted(response, what)
    _check_imprint(response, sha256, what)
    return response.tst_info.gen_time


def verify_token(der: bytes, sha256: bytes, roots: Sequence[x509.Certificate], what: str) -> datetime:
    """Check a kept token against a file's SHA-256 and the trusted certificates; the time it vouches for."""
    when = token_time(der, sha256, what)
    if not roots:
        raise TimestampError(f"{what}: signature not checked: no TSA certificate given "
                             "(--tsa-cert or LASTSEEN_TSA_CERTS)")
    check_signature(parse_response(der, what), sha256, roots, what)
    return when


def load_certificates(paths: Iterable[str | Path]) -> list[x509.Certificate]:
    """Every certificate in some PEM files (a CA bundle, the TSA's chain); TimestampError for a bad file."""
    certificates: list[x509.Certificate] = []
    for path in paths:
        try:
            certificates += x509.load_pem_x509_certificates(Path(path).read_bytes())
        except OSError as exc:
            raise TimestampError(f"cannot read TSA certificates {path}: {exc.strerror or exc}") from None
        except ValueError:
            raise TimestampError(f"{path} holds no PEM certificate") from None
    return certificates


def authorities(settings: Settings) -> list[HttpTimestampAuthority]:
    """The TSAs of LASTSEEN_TSA_URLS, sharing one session (proxy, CA bundle), checking with LASTSEEN_TSA_CERTS."""
    if not settings.tsa_urls:
        return []
    # The TSAs are the operator's own choice, like the Wayback endpoint: trusted whatever their address.
    session = make_session(settings.user_agent, settings.proxy, allow_networks=settings.allow_networks,
                           trust=settings.tsa_urls)
    roots = load_certificates(settings.tsa_certs)
    return [HttpTimestampAuthority(url, session, roots=roots) for url in settings.tsa_urls]

