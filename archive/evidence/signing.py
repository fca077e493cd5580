"""Signed WACZ packages, per Webrecorder's "WACZ Signing and Verification" (wacz-auth 0.1.0).

The anonymous form, as ArchiveWeb.page writes it and ReplayWeb.page checks it: `datapackage-digest.json`
carries `signedData` with the datapackage.json hash, its creation time, the software, an ECDSA P-384 /
SHA-256 signature of the hash text (raw r||s, the WebCrypto form, base64) and the public key (DER
SubjectPublicKeyInfo, base64). Anyone can check it with the key alone; that the key is this deployment's is
known from outside the package (its fingerprint, published). The key is the deployment's: made on first use
in ``data_dir/keys/wacz-signing-p384.pem`` (owner-only), or LASTSEEN_WACZ_SIGNING_KEY. A P-256 key made by
earlier versions (``wacz-signing.pem``) is left where it is, unused: packages it signed still verify.
With a domain certificate configured, the certificate form is written instead (`certified`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from archive import __version__
from archive.config import Settings

# The properties of the anonymous form; the spec allows no others.
ANONYMOUS_FIELDS = {"hash", "created", "software", "version", "signature", "publicKey"}
KEY_FILE = "wacz-signing-p384.pem"
CURVE = ec.SECP384R1  # ReplayWeb.page imports the anonymous form's key as P-384, and nothing else


class SigningError(Exception):
    """A key that cannot be had or used; one line for the user."""


def key_path(settings: Settings) -> Path:
    """Where the deployment's signing key is: LASTSEEN_WACZ_SIGNING_KEY, else data_dir/keys/wacz-signing-p384.pem."""
    return Path(settings.wacz_signing_key).expanduser() if settings.wacz_signing_key else \
        settings.data_dir / "keys" / KEY_FILE


def load_private_key(path: Path, what: str) -> ec.EllipticCurvePrivateKey:
    """An unencrypted PEM ECDSA private key, or SigningError in one line."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise SigningError(f"cannot read the {what} {path}: {exc.strerror or exc}") from None
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise SigningError(f"{path} holds no unencrypted PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise SigningError(f"{path}: the {what} must be an ECDSA key")
    return key


def signing_key(settings: Settings) -> ec.EllipticCurvePrivateKey:
    """The deployment's ECDSA P-384 key; made (and kept, owner-only) on first use unless one is configured."""
    path = key_path(settings)
    if not path.exists() and not settings.wacz_signing_key:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(CURVE())
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(pem)
        return key
    key = load_private_key(path, "WACZ signing key")
    if not isinstance(key.curve, CURVE):
        raise SigningError(f"{path}: the WACZ signing key must be ECDSA P-384, the curve ReplayWeb.page checks "
                           "(make one: openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384)")
    return key


def signer_fingerprint(settings: Settings) -> str | None:
    """The fingerprint of the deployment's signing key when it has one already (never makes one)."""
    path = key_path(settings)
    return fingerprint(public_key_der(signing_key(settings))) if path.exists() else None


def public_key_der(key: ec.EllipticCurvePrivateKey) -> bytes:
    """The public key as DER SubjectPublicKeyInfo, the form signedData carries (base64)."""
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def fingerprint(public_der: bytes) -> str:
    """A public key's SHA-256 (of its DER), as `sha256:HEX`: what the deployment publishes and verify prints."""
    return "sha256:" + hashlib.sha256(public_der).hexdigest()


def raw_signature(key: ec.EllipticCurvePrivateKey, text: str) -> bytes:
    """ECDSA / SHA-256 of text as WebCrypto gives it: r and s, each the curve's size, one after the other."""
    r, s = decode_dss_signature(key.sign(text.encode("utf-8"), ec.ECDSA(hashes.SHA256())))
    size = (key.curve.key_size + 7) // 8
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def sign_hash(key: ec.EllipticCurvePrivateKey, hash_text: str, created: str) -> dict[str, Any]:
    """The anonymous signedData of a datapackage.json hash (`sha256:HEX`) made at `created`, with the same
    properties ArchiveWeb.page writes."""
    return {"hash": hash_text, "signature": base64.b64encode(raw_signature(key, hash_text)).decode("ascii"),
            "publicKey": base64.b64encode(public_key_der(key)).decode("ascii"), "created": created,
            "software": f"lastseen/{__version__}"}


class AnonymousSigner:
    """Signs datapackage.json hashes in the anonymous form with the deployment's key."""

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        self.key = key
        self.fingerprint = fingerprint(public_key_der(key))

    def sign(self, hash_text: str, created: str) -> dict[str, Any]:
        return sign_hash(self.key, hash_text, created)


def verify_ecdsa(public: Any, signature: bytes, text: str) -> bool:
    """An ECDSA / SHA-256 signature of text (raw r||s or DER) holds for an EC public key."""
    if not isinstance(public, ec.EllipticCurvePublicKey):
        return False
    if len(signature) == 2 * ((public.curve.key_size + 7) // 8):  # raw r|s, as WebCrypto (ArchiveWeb.page) signs
        half = len(signature) // 2
        signature = encode_dss_signature(int.from_bytes(signature[:half], "big"),
                                         int.from_bytes(signature[half:], "big"))
    try:
        public.verify(signature, text.encode("utf-8"), ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


def check_signed(signed: dict[str, Any], hash_text: str, created: Any) -> tuple[str | None, list[str]]:
    """Check anonymous signedData against the package: the key's fingerprint when the signature holds, and
    problems."""
    problems = [f"signedData has a property the spec does not allow: {name}"
                for name in sorted(set(signed) - ANONYMOUS_FIELDS)]
    if signed.get("hash") != hash_text:
        problems.append("the signed hash is not datapackage.json's")
    if signed.get("created") != created:
        problems.append("the signature's time is not the package's `created`")
    try:
        public_der = base64.b64decode(str(signed["publicKey"]), validate=True)
        public = serialization.load_der_public_key(public_der)
        signature = base64.b64decode(str(signed.get("signature", "")), validate=True)
    except (binascii.Error, ValueError, UnsupportedAlgorithm):
        return None, [*problems, "signedData's publicKey or signature is not valid base64 DER"]
    if not verify_ecdsa(public, signature, str(signed.get("hash", ""))):
        return None, [*problems, "the signature of datapackage.json's hash does not verify"]
    return fingerprint(public_der), problems
