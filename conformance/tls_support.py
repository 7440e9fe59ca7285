"""A test PKI made with the openssl command line: a CA, server and client certificates (RSA 2048, PEM,
unencrypted keys), and a rogue CA whose certificates nobody trusts.

RSA server certificates: with DCMTK's BCP 195 profile the TLS 1.2 ciphersuites are RSA only, so a
TLS-1.2-only peer could not talk to an EC server certificate."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


def _openssl(*args, cwd: Path) -> None:
    result = subprocess.run(["openssl", *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert result.returncode == 0, f"openssl {' '.join(args)}\n{result.stdout}"


@dataclass
class Identity:
    """A certificate and its private key."""
    certificate: Path
    key: Path


class PKI:
    def __init__(self, directory: Path, name: str = "Loupe Test CA"):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.ca = self.directory / "ca.pem"
        self._ca_key = self.directory / "ca.key"
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "30", "-keyout", self._ca_key,
                 "-out", self.ca, "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=self.directory)

    def issue(self, common_name: str, hosts=("localhost", "127.0.0.1")) -> Identity:
        """A certificate for servers and clients alike, naming `hosts` in its subject alternative names."""
        stem = self.directory / common_name.lower()
        names = ",".join(("IP:" if h.replace(".", "").isdigit() else "DNS:") + h for h in hosts)
        extensions = stem.with_suffix(".ext")
        extensions.write_text("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                              "extendedKeyUsage=serverAuth,clientAuth\n" + (f"subjectAltName={names}\n" if names else ""))
        key, request, certificate = stem.with_suffix(".key"), stem.with_suffix(".csr"), stem.with_suffix(".pem")
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-sha256", "-keyout", key, "-out", request,
                 "-subj", f"/CN={common_name}/O=Loupe conformance", cwd=self.directory)
        _openssl("x509", "-req", "-in", request, "-CA", self.ca, "-CAkey", self._ca_key, "-CAcreateserial", "-days", "30",
                 "-sha256", "-extfile", extensions, "-out", certificate, cwd=self.directory)
        return Identity(certificate, key)
