"""HTTPS in front of moto server, for the cold-start benchmark (benches/lambda_runtime.rs).

On Lambda every AWS call goes over TLS, and the first one pays for the handshake; moto
server speaks plain HTTP. This terminates TLS with a throwaway certificate authority and
passes the bytes on to moto. It listens on one port of several loopback addresses
(ADDRESSES), so that a client pointed at a different address per service opens a connection,
and pays a handshake, per service, as on AWS where each service is its own host. It writes a
CA bundle (the system's roots plus its own CA, so loading it costs what loading the system
roots costs) and prints one line, `PORT BUNDLE_PATH`, then serves until killed. Point the
responder at `https://localhost:PORT` or `https://127.0.0.N:PORT` with
`SSL_CERT_FILE=BUNDLE_PATH`. It exits when its standard input closes, so it never outlives
the benchmark that started it.

Usage: tls_proxy.py UPSTREAM_HOST:PORT DIRECTORY
"""

import asyncio
import datetime
import ipaddress
import os
import ssl
import sys
import threading

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


async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()


async def main(upstream, directory):
    upstream_host, upstream_port = upstream.rsplit(":", 1)
    chain, key, bundle = certificates(directory)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain, key)

    async def connection(client_reader, client_writer):
        try:
            moto_reader, moto_writer = await asyncio.open_connection(upstream_host, int(upstream_port))
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(pipe(client_reader, moto_writer), pipe(moto_reader, client_writer))

    first = await asyncio.start_server(connection, ADDRESSES[0], 0, ssl=context)
    port = first.sockets[0].getsockname()[1]
    servers = [first] + [
        await asyncio.start_server(connection, address, port, ssl=context)
        for address in ADDRESSES[1:]
    ]
    print(port, bundle, flush=True)
    await asyncio.gather(*(server.serve_forever() for server in servers))


def exit_with_parent():
    sys.stdin.buffer.read()
    os._exit(0)


if __name__ == "__main__":
    threading.Thread(target=exit_with_parent, daemon=True).start()
    asyncio.run(main(sys.argv[1], sys.argv[2]))
