from repository.models.acme import (
    ACTIVE_STATUSES,
    AcmeAccount,
    AcmeChallenge,
    AcmeOrder,
    AcmeOrderEvent,
    AcmeRegistration,
    ChallengeType,
    OrderStatus,
    RegistrationStatus,
)
from repository.models.certificates import (
    Certificate,
    CertificateSource,
    CertificateStatus,
    ChainFetch,
    ChainFetchStatus,
    RenewalSource,
)
from repository.models.dns import DnsChallengeRecord, DnsProvider, TsigAlgorithm
from repository.models.keys import KeyExport, PrivateKey
from repository.models.runs import SweepRun, SweepRunStatus
from repository.models.settings import PanelSettings

__all__ = [
    "ACTIVE_STATUSES",
    "AcmeAccount",
    "AcmeChallenge",
    "AcmeOrder",
    "AcmeOrderEvent",
    "AcmeRegistration",
    "Certificate",
    "CertificateSource",
    "CertificateStatus",
    "ChainFetch",
    "ChainFetchStatus",
    "ChallengeType",
    "DnsChallengeRecord",
    "DnsProvider",
    "KeyExport",
    "OrderStatus",
    "PanelSettings",
    "PrivateKey",
    "RegistrationStatus",
    "RenewalSource",
    "SweepRun",
    "SweepRunStatus",
    "TsigAlgorithm",
]
