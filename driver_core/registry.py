"""The lazy provider registry: a table from (kind, provider) to the driver class.

No driver module is imported until :func:`get_driver` asks for it, so
``import driver_core`` stays as cheap as importing requests.
"""

from __future__ import annotations

import importlib
from typing import Any

from .errors import ValidationError
from .profiles import resolve

KINDS = ("compute", "storage", "dns", "loadbalancer")

#: (kind, provider) -> "module:Class". The only place a provider is listed.
PROVIDERS: dict[tuple[str, str], str] = {
    ("storage", "aws"): "driver_core.providers.aws.storage:S3StorageDriver",
    ("storage", "azure"): "driver_core.providers.azure.storage:AzureBlobStorageDriver",
    ("storage", "local"): "driver_core.providers.local.storage:LocalStorageDriver",
    ("dns", "aws"): "driver_core.providers.aws.dns:Route53DNSDriver",
    ("dns", "powerdns"): "driver_core.providers.powerdns.dns:PowerDNSDriver",
    ("dns", "local"): "driver_core.providers.local.dns:LocalDNSDriver",
    ("compute", "aws"): "driver_core.providers.aws.compute:EC2ComputeDriver",
    ("compute", "libvirt"): "driver_core.providers.libvirt.compute:LibvirtComputeDriver",
    ("loadbalancer", "aws"): "driver_core.providers.aws.loadbalancer:ELBv2LoadBalancerDriver",
}


def providers(kind: str | None = None) -> list[str]:
    """The provider names that offer ``kind`` (or any kind), sorted."""
    return sorted({p for k, p in PROVIDERS if kind is None or k == kind})


def driver_class(kind: str, provider: str) -> type:
    if kind not in KINDS:
        raise ValidationError(f"unknown kind {kind!r}: use one of {', '.join(KINDS)}")
    try:
        target = PROVIDERS[(kind, provider)]
    except KeyError:
        offered = ", ".join(providers(kind)) or "none yet"
        raise ValidationError(
            f"no {kind} driver for provider {provider!r} (providers with {kind}: {offered})"
        ) from None
    module_name, _, class_name = target.partition(":")
    module = importlib.import_module(module_name)
    cls: type = getattr(module, class_name)
    return cls


def get_driver(kind: str, provider: str, **options: Any) -> Any:
    cls = driver_class(kind, provider)
    return cls(resolve(provider, kind, **options))


class Cloud:
    """The drivers of every kind for one profile, created on first use."""

    def __init__(self, profile: str | None = None, **options: Any) -> None:
        self._options = dict(options, profile=profile)
        self._drivers: dict[str, Any] = {}
        self.provider: str = resolve(
            options.get("provider"), None, **{k: v for k, v in self._options.items() if k != "provider"}
        ).provider

    def driver(self, kind: str) -> Any:
        if kind not in self._drivers:
            opts = {k: v for k, v in self._options.items() if k != "provider"}
            self._drivers[kind] = get_driver(kind, self.provider, **opts)
        return self._drivers[kind]

    @property
    def storage(self) -> Any:
        return self.driver("storage")

    @property
    def compute(self) -> Any:
        return self.driver("compute")

    @property
    def dns(self) -> Any:
        return self.driver("dns")

    @property
    def loadbalancer(self) -> Any:
        return self.driver("loadbalancer")
