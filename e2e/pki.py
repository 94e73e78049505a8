"""Throwaway keys and certificates for the local control plane, made fresh for every run."""

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

UPSTREAM_CHART_HOST = "charts.external-secrets.io"


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write_key(key: rsa.RSAPrivateKey, path: Path) -> Path:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.chmod(0o600)
    return path


def _write_cert(cert: x509.Certificate, path: Path) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _name(common_name: str, organization: str = "") -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


@dataclass(frozen=True)
class ControlPlanePki:
    ca_cert: Path
    serving_cert: Path
    serving_key: Path
    admin_cert: Path
    admin_key: Path
    service_account_key: Path
    service_account_public_key: Path
    chart_repository_cert: Path
    chart_repository_key: Path


def create(directory: Path) -> ControlPlanePki:
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    valid = (now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=2))
    ca_key = _key()
    ca_name = _name("eso-platform-e2e-ca")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(subject: x509.Name, usage, sans=None):
        key = _key()
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(valid[0])
            .not_valid_after(valid[1])
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return key, builder.sign(ca_key, hashes.SHA256())

    serving_key, serving = leaf(
        _name("kube-apiserver"),
        ExtendedKeyUsageOID.SERVER_AUTH,
        [
            x509.DNSName("localhost"),
            x509.DNSName("kubernetes.default.svc"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        ],
    )
    # The harness's chart repository, also under upstream's name for a program that names it.
    chart_key, chart = leaf(
        _name("eso-platform-e2e-charts"),
        ExtendedKeyUsageOID.SERVER_AUTH,
        [x509.DNSName(UPSTREAM_CHART_HOST), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
    )
    # system:masters: the harness's own identity, outside RBAC; never given to the controller.
    admin_key, admin = leaf(_name("eso-platform-e2e-admin", "system:masters"), ExtendedKeyUsageOID.CLIENT_AUTH)
    service_account_key = _key()
    public = directory / "service-account.pub"
    public.write_bytes(
        service_account_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return ControlPlanePki(
        ca_cert=_write_cert(ca, directory / "ca.crt"),
        serving_cert=_write_cert(serving, directory / "apiserver.crt"),
        serving_key=_write_key(serving_key, directory / "apiserver.key"),
        admin_cert=_write_cert(admin, directory / "admin.crt"),
        admin_key=_write_key(admin_key, directory / "admin.key"),
        service_account_key=_write_key(service_account_key, directory / "service-account.key"),
        service_account_public_key=public,
        chart_repository_cert=_write_cert(chart, directory / "charts.crt"),
        chart_repository_key=_write_key(chart_key, directory / "charts.key"),
    )
