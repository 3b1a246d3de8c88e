from repository.models.acme import (
    ACTIVE_STATUSES,
    AcmeAccount,
    AcmeChallenge,
    AcmeOrder,
    AcmeOrderEvent,
    OrderStatus,
)
from repository.models.certificates import Certificate, CertificateSource, CertificateStatus
from repository.models.keys import KeyExport, PrivateKey
from repository.models.settings import PanelSettings

__all__ = [
    "ACTIVE_STATUSES",
    "AcmeAccount",
    "AcmeChallenge",
    "AcmeOrder",
    "AcmeOrderEvent",
    "Certificate",
    "CertificateSource",
    "CertificateStatus",
    "KeyExport",
    "OrderStatus",
    "PanelSettings",
    "PrivateKey",
]
