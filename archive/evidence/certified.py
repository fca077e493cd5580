"""The certificate form of WACZ signing (wacz-auth 0.1.0), as authsign writes it and py-wacz and authsign check.

With a domain certificate and its key configured (LASTSEEN_WACZ_SIGNING_CERT, LASTSEEN_WACZ_SIGNING_CERT_KEY),
`signedData` carries the hash, `created`, the software and spec version, a DER ECDSA / SHA-256 signature of the
hash by the certificate's key, the `domain` (the certificate's name), `domainCert` (the chain, leaf first, as
the file gives it), and the signature's trusted time: `timeSignature`, a TSA's RFC 3161 answer over the
signature's text, with `timestampCert`, the TSA's chain (its certificate from the token, then issuers from
LASTSEEN_TSA_CERTS). authsign's checker wants the certificate issued at most 48 hours before `created`
(short-lived certificates, as its own ACME signer renews them) and the time within 10 minutes of it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from archive import __version__
from archive.config import Settings
from archive.evidence.signing import (
    AnonymousSigner,
    SigningError,
    fingerprint,
    load_private_key,
    signing_key,
    verify_ecdsa,
)
from archive.evidence.timestamps import (
    TimestampAuthority,
    TimestampError,
    authorities,
    check_signature,
    load_certificates,
    parse_response,
    token_time,
)

SPEC_VERSION = "0.1.0"
CERTIFIED_FIELDS = {"hash", "created", "software", "version", "signature", "domain", "domainCert", "crossSignedCert",
                    "timeSignature", "timestampCert"}
STAMP_WINDOW = timedelta(minutes=10)  # authsign: the time signature within 10 minutes after `created`


def _pem(certificates: Sequence[x509.Certificate]) -> str:
    return "".join(cert.public_bytes(serialization.Encoding.PEM).decode("ascii") for cert in certificates)


def domain_of(certificate: x509.Certificate) -> str:
    """The name a certificate is for: its common name, else its first DNS name (as authsign reads it)."""
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if names:
        return str(names[0].value)
    try:
        dns = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ""
    found = dns.get_values_for_type(x509.DNSName)
    return found[0] if found else ""


def _chain_holds(chain: Sequence[x509.Certificate]) -> bool:
    """Each certificate is issued (signed) by the next one, as authsign checks a chain."""
    try:
        for cert, issuer in zip(chain, chain[1:], strict=False):
            cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _with_issuers(leaf: x509.Certificate, pool: Sequence[x509.Certificate]) -> list[x509.Certificate]:
    """leaf, then its issuers from pool up to a self-issued one."""
    chain = [leaf]
    while chain[-1].issuer != chain[-1].subject:
        issuer = next((cert for cert in pool if cert.subject == chain[-1].issuer and cert not in chain), None)
        if issuer is None:
            break
        chain.append(issuer)
    return chain


@dataclass
class CertifiedSigner:
    """Signs datapackage.json hashes with a domain certificate's key and a TSA's time over the signature."""

    chain: list[x509.Certificate]
    key: ec.EllipticCurvePrivateKey
    tsas: Sequence[TimestampAuthority]
    tsa_pool: Sequence[x509.Certificate]

    @property
    def fingerprint(self) -> str:
        public = self.chain[0].public_key().public_bytes(serialization.Encoding.DER,
                                                         serialization.PublicFormat.SubjectPublicKeyInfo)
        return fingerprint(public)

    def sign(self, hash_text: str, created: str) -> dict[str, Any]:
        """The certificate form's signedData; SigningError when no TSA gives the signature its time."""
        signature = base64.b64encode(self.key.sign(hash_text.encode("ascii"), ec.ECDSA(hashes.SHA256())))
        failures = []
        for tsa in self.tsas:
            try:
                stamp = tsa.stamp(signature)
            except TimestampError as exc:
                failures.append(str(exc))
                continue
            response = parse_response(stamp.der, f"TSA {tsa.url}")
            signer = [x509.load_der_x509_certificate(der) for der in response.signed_data.certificates]
            leaf = next((cert for cert in signer if not _is_ca(cert)), signer[0] if signer else None)
            if leaf is None:
                failures.append(f"TSA {tsa.url} gave no certificate with its token")
                continue
            return {"hash": hash_text, "created": created, "software": f"lastseen/{__version__}",
                    "version": SPEC_VERSION, "signature": signature.decode("ascii"),
                    "domain": domain_of(self.chain[0]), "domainCert": _pem(self.chain),
                    "timeSignature": base64.b64encode(stamp.der).decode("ascii"),
                    "timestampCert": _pem(_with_issuers(leaf, [*signer, *self.tsa_pool]))}
        raise SigningError("no timestamp for the WACZ signature: " + ("; ".join(failures) or "no TSA configured"))


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def certified_signer(settings: Settings) -> CertifiedSigner | None:
    """The certificate form's signer when a domain certificate and key are configured (both, with a TSA)."""
    if not (settings.wacz_signing_cert or settings.wacz_signing_cert_key):
        return None
    if not (settings.wacz_signing_cert and settings.wacz_signing_cert_key):
        raise SigningError("set both LASTSEEN_WACZ_SIGNING_CERT and LASTSEEN_WACZ_SIGNING_CERT_KEY, or neither")
    path = Path(settings.wacz_signing_cert).expanduser()
    try:
        chain = load_certificates([path])
        tsas, pool = authorities(settings), load_certificates(settings.tsa_certs)
    except TimestampError as exc:
        raise SigningError(str(exc)) from None
    key = load_private_key(Path(settings.wacz_signing_cert_key).expanduser(), "WACZ certificate key")
    if chain[0].public_key() != key.public_key():
        raise SigningError(f"{settings.wacz_signing_cert_key} is not the key of the certificate in {path}")
    if not tsas:
        raise SigningError("a certificate-signed WACZ needs a timestamp authority (set LASTSEEN_TSA_URLS)")
    return CertifiedSigner(chain, key, tsas, pool)


def package_signer(settings: Settings) -> AnonymousSigner | CertifiedSigner:
    """What signs this deployment's WACZ exports: the domain certificate when configured, else its own key."""
    return certified_signer(settings) or AnonymousSigner(signing_key(settings))


def check_certified(signed: dict[str, Any], hash_text: str, created: Any) -> tuple[str | None, list[str]]:
    """Check certificate-form signedData: the signature by the chain's leaf, its domain, and the time signature
    over it (by the TSA chain it carries). Whether the chains' roots are trusted is the reader's to judge."""
    fields = {name: signed.get(name) for name in ("signature", "domain", "domainCert", "timeSignature",
                                                  "timestampCert")}
    missing = [name for name, value in fields.items() if not isinstance(value, str)]
    if missing:
        return None, [f"signedData has neither publicKey nor {', '.join(missing)} (no signature form known)"]
    problems = [f"signedData has a property the spec does not allow: {name}"
                for name in sorted(set(signed) - CERTIFIED_FIELDS)]
    if signed.get("hash") != hash_text:
        problems.append("the signed hash is not datapackage.json's")
    if signed.get("created") != created:
        problems.append("the signature's time is not the package's `created`")
    try:
        chain = x509.load_pem_x509_certificates(fields["domainCert"].encode("ascii"))
        stamps = x509.load_pem_x509_certificates(fields["timestampCert"].encode("ascii"))
        signature = base64.b64decode(fields["signature"], validate=True)
        time_der = base64.b64decode(fields["timeSignature"], validate=True)
    except (ValueError, UnicodeEncodeError, binascii.Error):
        return None, [*problems, "signedData's certificates or signatures are not valid PEM and base64"]
    if not _chain_holds(chain) or not _chain_holds(stamps):
        problems.append("a certificate in signedData is not issued by the next one")
    if domain_of(chain[0]) != fields["domain"]:
        problems.append(f"the certificate is for {domain_of(chain[0])!r}, not the domain {fields['domain']!r}")
    if not verify_ecdsa(chain[0].public_key(), signature, str(signed.get("hash", ""))):
        return None, [*problems, "the signature of datapackage.json's hash does not verify"]
    problems += _check_time(fields["signature"], time_der, stamps, created)
    public = chain[0].public_key().public_bytes(serialization.Encoding.DER,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
    return fingerprint(public), problems


def _check_time(signature_text: str, der: bytes, stamps: Sequence[x509.Certificate], created: Any) -> list[str]:
    """The time signature is over the signature's text, signed by the TSA chain given, soon after `created`."""
    sha256 = hashlib.sha256(signature_text.encode("ascii")).digest()
    try:
        when = token_time(der, sha256, "the signature's time signature")
        check_signature(parse_response(der, "the time signature"), sha256, stamps[-1:], "the time signature")
    except TimestampError as exc:
        return [str(exc)]
    except ValueError as exc:  # rfc3161-client on a token it cannot take apart
        return [f"the signature's time signature cannot be checked: {exc}"]
    try:
        made = datetime.strptime(str(created), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=when.tzinfo)
    except ValueError:
        return ["the package's `created` is not a time (YYYY-MM-DDTHH:MM:SSZ)"]
    if not made <= when <= made + STAMP_WINDOW:
        return ["the signature's trusted time is not within 10 minutes after `created`"]
    return []
