from repository.models.certificates import Certificate, CertificateSource, CertificateStatus
from repository.models.keys import KeyExport, PrivateKey

__all__ = ["Certificate", "CertificateSource", "CertificateStatus", "KeyExport", "PrivateKey"]
