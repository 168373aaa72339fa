"""Amazon EC2 as a :class:`~driver_core.compute.ComputeDriver` (Query API 2016-11-15).

Every call is ``POST /`` with a form-encoded ``Action=...&Version=2016-11-15`` body,
signed by the project's SigV4 signer for service ``ec2`` in the driver's region.
Creates send EC2's idempotency token (``ClientToken``), so a request the transport
retries never makes two instances or volumes. Sizes come from a static table of
common instance types with bundled prices (``driver_core/data/ec2_prices.json``);
any other type EC2 knows is accepted after one DescribeInstanceTypes call.

Options: ``page_size`` (5 to 1000), ``retries``, ``image_owners`` (account ids or
``amazon``/``aws-marketplace`` whose images :meth:`list_images` shows besides your own).
"""

from __future__ import annotations

import base64
import threading
import uuid
import xml.etree.ElementTree as ET
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, ClassVar

from ...compute import ComputeDriver, NodeRef, NodeSpec, VolumeRef, id_of
from ...errors import (
    AuthError,
    Conflict,
    InvalidRequest,
    NotFound,
    ProviderError,
    ValidationError,
)
from ...models import Image, KeyPair, Location, Node, NodeState, Size, Snapshot, Volume
from ...profiles import ConnectionOptions
from ...transport import encode_query, paginate
from ...xmlutil import parse, text
from . import common
from . import ec2_parse as p

API_VERSION = "2016-11-15"
DEFAULT_REGION = "us-east-1"
MIN_PAGE = 5  # DescribeInstances, DescribeVolumes and DescribeSnapshots refuse a smaller MaxResults
MAX_VOLUME_PAGE = 500
DEFAULT_DEVICE = "/dev/sdf"
_FORM = "application/x-www-form-urlencoded; charset=utf-8"
#: RunInstances parameters the driver sets itself; ``extra`` may not override them.
_RESERVED = frozenset(
    {"Action", "Version", "ImageId", "InstanceType", "MinCount", "MaxCount", "ClientToken", "KeyName", "UserData"}
)
_ACTIONS = {
    "reboot": "RebootInstances",
    "start": "StartInstances",
    "stop": "StopInstances",
    "destroy": "TerminateInstances",
}

CODE_MAP: dict[str, type[ProviderError]] = {
    **common.COMMON_CODES,
    "InvalidInstanceID.NotFound": NotFound,
    "InvalidInstanceID.Malformed": NotFound,
    "InvalidVolume.NotFound": NotFound,
    "InvalidVolumeID.Malformed": NotFound,
    "InvalidSnapshot.NotFound": NotFound,
    "InvalidSnapshotID.Malformed": NotFound,
    "InvalidKeyPair.NotFound": NotFound,
    "InvalidAMIID.NotFound": NotFound,
    "InvalidAMIID.Malformed": NotFound,
    "InvalidAMIID.Unavailable": NotFound,
    "InvalidID": NotFound,
    "InvalidKeyPair.Duplicate": Conflict,
    "IncorrectState": Conflict,
    "IncorrectInstanceState": Conflict,
    "VolumeInUse": Conflict,
    "InvalidVolume.ZoneMismatch": InvalidRequest,
    "DependencyViolation": Conflict,
    "IdempotentParameterMismatch": Conflict,
    "InvalidParameterValue": InvalidRequest,
    "InvalidParameterCombination": InvalidRequest,
    "InvalidParameter": InvalidRequest,
    "MissingParameter": InvalidRequest,
    "InvalidInstanceType": InvalidRequest,
    "OptInRequired": AuthError,
    "Blocked": AuthError,
}
#: How many client tokens the driver remembers (see :meth:`EC2ComputeDriver._create_node`).
_TOKEN_MEMORY = 4096


class EC2ComputeDriver(ComputeDriver):
    """EC2 instances, volumes, snapshots, key pairs and tags in one region."""

    provider: ClassVar[str] = "aws"
    max_page_size: ClassVar[int] = 1000

    def __init__(self, options: ConnectionOptions) -> None:
        super().__init__(options)
        self.region = options.region or DEFAULT_REGION
        endpoint = common.endpoint_url(options.endpoint or f"https://ec2.{self.region}.amazonaws.com", self.provider)
        self.url = f"{endpoint}/"
        owners = options.options.get("image_owners") or []
        self.image_owners: list[str] = [owners] if isinstance(owners, str) else [str(o) for o in owners]
        signer = common.signer_for(options, self.provider, self.region, "ec2", what="EC2")
        self.transport = self._make_transport(signer=signer, error_parser=common.error_info, code_map=CODE_MAP)
        self._lock = threading.Lock()
        self._tokens: OrderedDict[str, str] = OrderedDict()  # client token -> instance id
        self._zones: list[Location] | None = None

    # --------------------------------------------------------------- plumbing
    def _call(self, action: str, params: Iterable[tuple[str, str]] = ()) -> ET.Element:
        """One Query API call; the parsed answer (namespaces stripped)."""
        body = encode_query([("Action", action), ("Version", API_VERSION), *params]).encode("ascii")
        resp = self.transport.request("POST", self.url, headers={"Content-Type": _FORM}, body=body)
        return parse(resp.content, self.provider)

    def _page(self, limit: int = 1000) -> str:
        return str(max(MIN_PAGE, min(self.page_size, limit)))

    def _paged(self, action: str, params: list[tuple[str, str]], path: str, limit: int = 1000) -> Iterator[ET.Element]:
        """Every ``path`` element of every page of a Describe call (MaxResults and NextToken)."""

        def fetch(token: str | None) -> tuple[list[ET.Element], str | None]:
            query = [*params, ("MaxResults", self._page(limit))]
            if token:
                query.append(("NextToken", token))
            root = self._call(action, query)
            return list(root.iterfind(path)), text(root, "nextToken")

        return paginate(fetch)

    # ------------------------------------------------------------------ nodes
    def iterate_nodes(self) -> Iterator[Node]:
        """Every instance that is not terminated, across all pages."""
        for el in self._paged("DescribeInstances", [], "reservationSet/item/instancesSet/item"):
            node = p.node_from(el)
            if node.state is not NodeState.TERMINATED:
                yield node

    def get_node(self, node: NodeRef) -> Node:
        """The instance with this id, in one request; :class:`NotFound` if EC2 does not know it.

        A recently terminated instance is returned (state ``terminated``), so waiting for
        :attr:`NodeState.TERMINATED` works; every action on it is :class:`NotFound`.
        """
        wanted = id_of(node)
        try:
            root = self._call("DescribeInstances", [("InstanceId.1", wanted)])
        except NotFound:
            raise NotFound(f"node {wanted!r} does not exist", provider=self.provider) from None
        for el in root.iterfind("reservationSet/item/instancesSet/item"):
            return p.node_from(el)
        raise NotFound(f"node {wanted!r} does not exist", provider=self.provider)

    def _create_node(self, spec: NodeSpec) -> Node:
        """RunInstances for one instance, with the spec's client token.

        EC2 answers a repeated token with the instance it made the first time. The driver also
        remembers the tokens it used, so repeating a spec here returns the same instance even from
        an EC2-compatible endpoint that ignores the token (moto does).
        """
        with self._lock:
            known = self._tokens.get(spec.client_token)
        if known is not None:
            try:
                existing = self.get_node(known)
            except NotFound:
                existing = None
            if existing is not None and existing.state is not NodeState.TERMINATED:
                return existing
        params: list[tuple[str, str]] = [
            ("ImageId", spec.image),
            ("InstanceType", spec.size),
            ("MinCount", "1"),
            ("MaxCount", "1"),
            ("ClientToken", spec.client_token),
        ]
        if spec.location:
            params.append(("Placement.AvailabilityZone", spec.location))
        if spec.key_name:
            params.append(("KeyName", spec.key_name))
        if spec.user_data is not None:
            params.append(("UserData", base64.b64encode(spec.user_data.encode("utf-8")).decode("ascii")))
        params += p.tag_spec("instance", {**spec.tags, "Name": spec.name})
        params += self._extra_params(spec.extra)
        root = self._call("RunInstances", params)
        el = root.find("instancesSet/item")
        if el is None:
            raise ProviderError("EC2 answered RunInstances without an instance", provider=self.provider)
        node = p.node_from(el)
        with self._lock:
            self._tokens[spec.client_token] = node.id
            while len(self._tokens) > _TOKEN_MEMORY:
                self._tokens.popitem(last=False)
        return node

    def _extra_params(self, extra: Mapping[str, Any]) -> list[tuple[str, str]]:
        """``extra`` as RunInstances parameters (``{"SubnetId": ..., "SecurityGroupIds": [...]}``)."""
        out: list[tuple[str, str]] = []
        for key, value in extra.items():
            if key.partition(".")[0] in _RESERVED or key.startswith("TagSpecification"):
                raise ValidationError(
                    f"extra may not set {key!r}: use the create_node argument for it", provider=self.provider
                )
            p.flatten(key, value, out)
        return out

    def _check_spec(self, spec: NodeSpec, known: dict[tuple[str, str], str] | None = None) -> None:
        super()._check_spec(spec, known)
        self._extra_params(spec.extra)  # refuse bad extras before anything is created

    def ex_register_image(self, name: str, *, root_device: str = "/dev/sda1", snapshot: str | None = None) -> Image:
        """Register an AMI (from an EBS ``snapshot`` of the root device, when given)."""
        params = [("Name", name), ("RootDeviceName", root_device)]
        if snapshot:
            params += [
                ("BlockDeviceMapping.1.DeviceName", root_device),
                ("BlockDeviceMapping.1.Ebs.SnapshotId", snapshot),
            ]
        image_id = self._call("RegisterImage", params).findtext("imageId")
        if not image_id:
            raise ProviderError("EC2 did not return the id of the registered image", provider=self.provider)
        return Image(id=image_id, name=name)

    def ex_resize_node(self, node: NodeRef, size: Size | str) -> Node:
        """Change a stopped instance's type (EC2 changes types only while stopped)."""
        target = self.get_node(node)
        new_size = self.resolve_size(size).id
        if target.state is not NodeState.STOPPED:
            raise Conflict(
                f"node {target.name or target.id!r} is {target.state.value}: stop it before changing its size",
                provider=self.provider,
            )
        self._call("ModifyInstanceAttribute", [("InstanceId", target.id), ("InstanceType.Value", new_size)])
        return self.get_node(target.id)

    def _node_action(self, node: Node, action: str) -> None:
        if node.state is NodeState.TERMINATED:
            raise NotFound(f"node {node.name or node.id!r} is terminated", provider=self.provider)
        self._call(_ACTIONS[action], [("InstanceId.1", node.id)])

    # -------------------------------------------------- sizes, images, places
    def list_sizes(self) -> list[Size]:
        """Common instance types with their hourly Linux price in this region (bundled 2023-08-06 data)."""
        return p.sizes(self.region)

    def resolve_size(self, size: Size | str) -> Size:
        """A listed size, or any other type EC2 offers (checked with one DescribeInstanceTypes call)."""
        if isinstance(size, Size):
            return size
        for known in self.list_sizes():
            if known.id == size:
                return known
        try:
            root = self._call("DescribeInstanceTypes", [("InstanceType.1", size)])
        except InvalidRequest:
            root = None
        el = root.find("instanceTypeSet/item") if root is not None else None
        if el is None:
            listed = ", ".join(s.id for s in self.list_sizes()[:20])
            raise ValidationError(
                f"unknown size {size!r}: EC2 offers no such instance type (common ones: {listed}, ...)",
                provider=self.provider,
            )
        vcpus, ram = text(el, "vCpuInfo/defaultVCpus"), text(el, "memoryInfo/sizeInMiB")
        return Size(id=size, name=size, vcpus=int(vcpus) if vcpus else None, ram_mb=int(ram) if ram else None)

    def _owner_params(self) -> list[tuple[str, str]]:
        return [(f"Owner.{i}", owner) for i, owner in enumerate(["self", *self.image_owners], 1)]

    def list_images(self) -> list[Image]:
        """Your own images, plus those of ``options["image_owners"]``."""
        return [p.image_from(el) for el in self._paged("DescribeImages", self._owner_params(), "imagesSet/item")]

    def resolve_image(self, image: Image | str) -> Image:
        """An AMI by id (one DescribeImages ImageId.1 call, whoever owns it) or by name among
        :meth:`list_images`'s owners; :class:`ValidationError` when there is none."""
        if isinstance(image, Image):
            return image
        if image.startswith("ami-"):
            params = [("ImageId.1", image)]
        else:
            params = [*self._owner_params(), ("Filter.1.Name", "name"), ("Filter.1.Value.1", image)]
        try:
            root = self._call("DescribeImages", params)
        except NotFound:
            root = None
        found = [p.image_from(el) for el in root.iterfind("imagesSet/item")] if root is not None else []
        if not found:
            raise ValidationError(
                f"unknown image {image!r}: no such AMI is visible to this account in {self.region}",
                provider=self.provider,
            )
        return found[0]

    def list_locations(self) -> list[Location]:
        """The availability zones of the driver's region."""
        root = self._call("DescribeAvailabilityZones")
        zones = [p.location_from(el) for el in root.iterfind("availabilityZoneInfo/item")]
        self._zones = zones
        return zones

    # ---------------------------------------------------------------- volumes
    def list_volumes(self) -> list[Volume]:
        return [p.volume_from(el) for el in self._paged("DescribeVolumes", [], "volumeSet/item", MAX_VOLUME_PAGE)]

    def get_volume(self, volume: VolumeRef) -> Volume:
        """The volume with this id, in one request; :class:`NotFound` if there is none."""
        wanted = id_of(volume)
        try:
            root = self._call("DescribeVolumes", [("VolumeId.1", wanted)])
        except NotFound:
            root = None
        el = root.find("volumeSet/item") if root is not None else None
        if el is None:
            raise NotFound(f"volume {wanted!r} does not exist", provider=self.provider)
        return p.volume_from(el)

    def _create_volume(self, size_gb: int, name: str, location: str | None, tags: dict[str, str]) -> Volume:
        if location is None:
            zones = self._zones or self.list_locations()
            if not zones:
                raise ProviderError(f"region {self.region} has no availability zone", provider=self.provider)
            location = zones[0].id
        params = [
            ("Size", str(size_gb)),
            ("AvailabilityZone", location),
            ("ClientToken", uuid.uuid4().hex),
            *p.tag_spec("volume", {**tags, "Name": name}),
        ]
        return p.volume_from(self._call("CreateVolume", params))

    def _attach_volume(self, volume: Volume, node: Node, device: str | None) -> Volume:
        params = [("VolumeId", volume.id), ("InstanceId", node.id), ("Device", device or DEFAULT_DEVICE)]
        self._call("AttachVolume", params)
        return self.get_volume(volume.id)

    def _detach_volume(self, volume: Volume) -> Volume:
        if not volume.node:
            raise Conflict(f"volume {volume.name or volume.id!r} is not attached", provider=self.provider)
        # InstanceId is optional to EC2, but moto answers 500 without it; naming it also makes
        # sure the volume is detached from the node it was seen on.
        self._call("DetachVolume", [("VolumeId", volume.id), ("InstanceId", volume.node)])
        return self.get_volume(volume.id)

    def _destroy_volume(self, volume: Volume) -> None:
        self._call("DeleteVolume", [("VolumeId", volume.id)])

    # -------------------------------------------------------------- snapshots
    def list_snapshots(self) -> list[Snapshot]:
        """Snapshots this account owns."""
        items = self._paged("DescribeSnapshots", [("Owner.1", "self")], "snapshotSet/item")
        return [p.snapshot_from(el) for el in items]

    def _create_snapshot(self, volume: Volume, name: str) -> Snapshot:
        params = [("VolumeId", volume.id), ("Description", name), *p.tag_spec("snapshot", {"Name": name})]
        snap = p.snapshot_from(self._call("CreateSnapshot", params))
        snap.name = name
        return snap

    def destroy_snapshot(self, snapshot: Snapshot | str) -> None:
        """Delete a snapshot in one request; :class:`NotFound` if there is none."""
        wanted = id_of(snapshot)
        try:
            self._destroy_snapshot(wanted)
        except NotFound:
            raise NotFound(f"snapshot {wanted!r} does not exist", provider=self.provider) from None

    def _destroy_snapshot(self, snapshot_id: str) -> None:
        self._call("DeleteSnapshot", [("SnapshotId", snapshot_id)])

    # -------------------------------------------------------------- key pairs
    def list_key_pairs(self) -> list[KeyPair]:
        root = self._call("DescribeKeyPairs")
        return [p.key_pair_from(el) for el in root.iterfind("keySet/item")]

    def get_key_pair(self, name: str) -> KeyPair:
        """The key pair called ``name``, in one request; :class:`NotFound` if there is none."""
        try:
            root = self._call("DescribeKeyPairs", [("KeyName.1", name)])
        except NotFound:
            root = None
        el = root.find("keySet/item") if root is not None else None
        if el is None:
            raise NotFound(f"key pair {name!r} does not exist", provider=self.provider)
        return p.key_pair_from(el)

    def create_key_pair(self, name: str) -> KeyPair:
        """A new key pair generated by EC2; ``private_key`` is the only copy. :class:`Conflict` if it exists."""
        return p.key_pair_from(self._call("CreateKeyPair", [("KeyName", name)]))

    def import_key_pair(self, name: str, public_key: str) -> KeyPair:
        """Import an OpenSSH public key; :class:`Conflict` if the name is taken."""
        material = base64.b64encode(public_key.strip().encode("utf-8")).decode("ascii")
        pair = p.key_pair_from(self._call("ImportKeyPair", [("KeyName", name), ("PublicKeyMaterial", material)]))
        pair.public_key = pair.public_key or public_key.strip()
        return pair

    def delete_key_pair(self, name: str) -> None:
        """Delete a key pair; :class:`NotFound` when there is none (EC2 itself would not say)."""
        self.get_key_pair(name)
        self._call("DeleteKeyPair", [("KeyName", name)])

    # ------------------------------------------------------------------- tags
    def update_tags(
        self, resource: Node | Volume | str, *, set: Mapping[str, str] | None = None, remove: Iterable[str] = ()
    ) -> None:
        """Add or change the tags in ``set`` and remove the keys in ``remove`` on an instance or volume.

        An unknown id is :class:`NotFound` before anything changes.
        """
        resource_id = id_of(resource)
        if isinstance(resource, str):
            if resource_id.startswith("i-"):
                self.get_node(resource_id)
            elif resource_id.startswith("vol-"):
                self.get_volume(resource_id)
            else:
                raise ValidationError(
                    f"{resource_id!r} is neither an instance (i-...) nor a volume (vol-...) id", provider=self.provider
                )
        wanted, doomed = dict(set or {}), [k for k in remove if k not in (set or {})]
        if wanted:
            self._call("CreateTags", [("ResourceId.1", resource_id), *p.tag_params("Tag", wanted)])
        if doomed:
            params = [("ResourceId.1", resource_id), *p.tag_params("Tag", dict.fromkeys(doomed, ""), keys_only=True)]
            self._call("DeleteTags", params)


__all__ = ["CODE_MAP", "EC2ComputeDriver"]
