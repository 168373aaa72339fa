"""DNS zones and record sets as desired-state resources.

Record sets are compared after normalisation (:mod:`driver_core.dnsvalues`): trailing
dots, case, TXT quoting and value order never make an unchanged record look changed,
and a TTL the user did not give is never compared.
"""

from __future__ import annotations

from typing import Any, ClassVar

from .. import dnsvalues
from ..errors import NotFound, ValidationError
from ..models import Record, Zone
from .engine import Resource


class ZoneResource(Resource):
    """A zone: ``name`` (the domain) and ``ttl``, used when the zone is created."""

    kind: ClassVar[str] = "dns_zone"

    @property
    def name(self) -> str:
        return dnsvalues.domain(self.params["name"])

    def read(self) -> Zone | None:
        try:
            zone: Zone = self.driver.get_zone(self.name)
        except NotFound:
            return None
        return zone

    def view(self, model: Zone) -> dict[str, Any]:
        return {"name": model.domain, "ttl": model.ttl}

    def wanted(self, current: dict[str, Any] | None) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if current is None and self.params.get("ttl") is not None:
            out["ttl"] = dnsvalues.ttl(self.params["ttl"])  # a zone's TTL is set when it is made
        return out

    def create(self, wanted: dict[str, Any]) -> Zone:
        zone: Zone = self.driver.create_zone(self.name, ttl=wanted.get("ttl"))
        return zone

    def delete(self, model: Zone) -> None:
        self.driver.delete_zone(model)


class RecordResource(Resource):
    """A record set: ``zone``, ``name``, ``type``, ``values`` and ``ttl``."""

    kind: ClassVar[str] = "dns_record"

    def __init__(self, driver: Any, *, state: str = "present", **params: Any) -> None:
        super().__init__(driver, state=state, **params)
        self.zone_name = dnsvalues.domain(params["zone"])
        self.rname = dnsvalues.relative_name(params.get("name") or "@", self.zone_name)
        self.rtype = dnsvalues.record_type(params["type"])
        if state == "present" and not params.get("values"):
            raise ValidationError(f"dns_record {self.name}: state present needs values")
        self._zone: Zone | None = None

    @property
    def name(self) -> str:
        fqdn = self.zone_name if self.rname == "@" else f"{self.rname}.{self.zone_name}"
        return f"{fqdn}. {self.rtype}"

    def read(self) -> Record | None:
        try:
            self._zone = self.driver.get_zone(self.zone_name)
        except NotFound:
            if self.state == "absent":
                return None
            raise ValidationError(
                f"dns_record {self.name}: zone {self.zone_name!r} does not exist; create it first"
            ) from None
        try:
            record: Record = self.driver.get_record(self._zone, self.rname, self.rtype)
        except NotFound:
            return None
        return record

    def view(self, model: Record) -> dict[str, Any]:
        return {"name": model.name, "type": model.type, "ttl": model.ttl, "values": list(model.values)}

    def wanted(self, current: dict[str, Any] | None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.rname,
            "type": self.rtype,
            "values": dnsvalues.values(self.rtype, self.params["values"]),
        }
        if self.params.get("ttl") is not None:
            out["ttl"] = dnsvalues.ttl(self.params["ttl"])
        return out

    def create(self, wanted: dict[str, Any]) -> Record:
        record: Record = self.driver.create_record(
            self._zone, self.rname, self.rtype, wanted["values"], ttl=wanted.get("ttl")
        )
        return record

    def update(self, model: Record, wanted: dict[str, Any], changed: list[str]) -> Record:
        record: Record = self.driver.update_record(
            self._zone, self.rname, self.rtype, wanted["values"], ttl=wanted.get("ttl")
        )
        return record

    def delete(self, model: Record) -> None:
        self.driver.delete_record(self._zone, self.rname, self.rtype)
