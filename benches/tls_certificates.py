"""Certificates for HTTPS in front of moto server, in the cold-start benchmark
(benches/lambda_runtime.rs).

On Lambda every AWS call goes over TLS, and the first one pays for the handshake; moto
server speaks plain HTTP, so the benchmark terminates TLS in front of it. This writes what that
needs into DIRECTORY: a throwaway certificate authority's certificate for localhost and the
loopback addresses in ADDRESSES (RSA 2048, as AWS endpoints serve) with its key, and a CA
bundle (the system's roots plus the throwaway CA, so loading it costs what loading the system
roots costs) for the responder's `SSL_CERT_FILE`. It prints one line, `CHAIN KEY BUNDLE`, the
three paths, and exits.

Usage: tls_certificates.py DIRECTORY
"""

import datetime
import ipaddress
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

ADDRESSES = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"]

SYSTEM_BUNDLES = [
    "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu
    "/etc/pki/tls/certs/ca-bundle.crt",  # Amazon Linux, Fedora
]


def name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def certificates(directory):
    """A CA and a localhost certificate it signed (RSA 2048, as AWS endpoints serve)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    valid = dict(
        not_valid_before=now - datetime.timedelta(minutes=5),
        not_valid_after=now + datetime.timedelta(days=1),
    )
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = (
        x509.CertificateBuilder(subject_name=name("benchmark CA"), issuer_name=name("benchmark CA"),
                                public_key=ca_key.public_key(),
                                serial_number=x509.random_serial_number(), **valid)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=True, crl_sign=True,
                                     encipher_only=False, decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf = (
        x509.CertificateBuilder(subject_name=name("localhost"), issuer_name=ca.subject,
                                public_key=key.public_key(),
                                serial_number=x509.random_serial_number(), **valid)
        .add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost")]
            + [x509.IPAddress(ipaddress.ip_address(a)) for a in ADDRESSES]
        ), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    chain = os.path.join(directory, "server.pem")
    with open(chain, "wb") as f:
        f.write(leaf.public_bytes(serialization.Encoding.PEM))
        f.write(ca.public_bytes(serialization.Encoding.PEM))
    key_path = os.path.join(directory, "server.key")
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    bundle = os.path.join(directory, "bundle.pem")
    with open(bundle, "wb") as f:
        for system in SYSTEM_BUNDLES:
            if os.path.exists(system):
                with open(system, "rb") as roots:
                    f.write(roots.read())
                break
        f.write(ca.public_bytes(serialization.Encoding.PEM))
    return chain, key_path, bundle


if __name__ == "__main__":
    print(*certificates(sys.argv[1]), flush=True)
