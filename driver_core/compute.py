"""The compute contract shared by every compute provider.

Nodes (virtual machines), sizes, images, locations, volumes, snapshots, key
pairs and tags. The base class resolves what the user named (a size, image or
location by id or by name, a node by model or id) with a clear error when it is
unknown, waits for states, and runs bulk creates with a concurrency limit,
raising :class:`PartialFailure` with every node that was created when some fail.
A provider implements the ``_``-prefixed primitives and the listing methods.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from .base import Driver
from .errors import DriverError, NotFound, PartialFailure, Timeout, ValidationError
from .models import Image, KeyPair, Location, Node, NodeState, Size, Snapshot, Volume
from .profiles import ConnectionOptions
from .storage import name_of

T = TypeVar("T")
NodeRef = Node | str
VolumeRef = Volume | str


def id_of(ref: Any) -> str:
    """The id of a model, or the string itself."""
    return ref if isinstance(ref, str) else ref.id


@dataclass
class NodeSpec:
    """What to create: the arguments of :meth:`ComputeDriver.create_node`, as one value.

    ``client_token`` identifies this one create: providers that support
    idempotency send it, so a retried request never makes two nodes.
    """

    name: str
    size: str
    image: str
    location: str | None = None
    key_name: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    user_data: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    client_token: str = field(default_factory=lambda: uuid.uuid4().hex)

    @classmethod
    def of(cls, spec: NodeSpec | Mapping[str, Any]) -> NodeSpec:
        if isinstance(spec, NodeSpec):
            return spec
        try:
            return cls(**dict(spec))
        except TypeError as exc:
            raise ValidationError(f"invalid node spec {dict(spec)!r}: {exc}") from None


class ComputeDriver(Driver):
    """Base of every compute driver. Safe to share between threads."""

    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"nodes", "sizes", "images", "locations", "volumes", "snapshots", "key_pairs", "tags", "bulk"}
    )
    default_page_size: ClassVar[int] = 100
    max_page_size: ClassVar[int] = 1000
    #: Seconds between polls in wait_for_state.
    poll_interval: ClassVar[float] = 2.0

    def __init__(self, options: ConnectionOptions) -> None:
        super().__init__(options)
        self.page_size = self._int_option("page_size", self.default_page_size, 1, self.max_page_size)
        self.sleep: Callable[[float], None] = time.sleep

    # ------------------------------------------------------------------ nodes
    def iterate_nodes(self) -> Iterator[Node]:
        """Every node (terminated ones excepted), across all pages."""
        raise self.not_supported("iterate_nodes")

    def list_nodes(self) -> list[Node]:
        return list(self.iterate_nodes())

    def get_node(self, node: NodeRef) -> Node:
        """The node with this id; :class:`NotFound` when there is none."""
        wanted = id_of(node)
        for found in self.iterate_nodes():
            if found.id == wanted:
                return found
        raise NotFound(f"node {wanted!r} does not exist", provider=self.provider)

    def create_node(
        self,
        name: str,
        size: Size | str,
        image: Image | str,
        *,
        location: Location | str | None = None,
        key_name: str | None = None,
        tags: Mapping[str, str] | None = None,
        user_data: str | None = None,
        extra: Mapping[str, Any] | None = None,
        client_token: str | None = None,
    ) -> Node:
        """Create a node. Unknown sizes, images, locations and key pairs are errors before anything
        is created. ``extra`` passes provider settings through (security groups, subnets, ...)."""
        spec = NodeSpec(
            name=name,
            size=id_of(size),
            image=id_of(image),
            location=id_of(location) if location is not None else None,
            key_name=key_name,
            tags=dict(tags or {}),
            user_data=user_data,
            extra=dict(extra or {}),
        )
        if client_token:
            spec.client_token = client_token
        return self._create_checked(spec)

    def _create_checked(self, spec: NodeSpec) -> Node:
        self._check_spec(spec)
        return self._create_node(spec)

    def _check_spec(self, spec: NodeSpec, known: dict[tuple[str, str], str] | None = None) -> None:
        """Refuse what cannot be created, with the choices that exist.

        ``known`` remembers what was already resolved, so a bulk create looks each
        distinct size, image, location and key pair up once, not once per node.
        """
        if not isinstance(spec.name, str) or not spec.name.strip():
            raise ValidationError("a node needs a non-empty name", provider=self.provider)
        seen = {} if known is None else known

        def once(kind: str, ref: str, resolve: Callable[[str], str]) -> str:
            if (kind, ref) not in seen:
                seen[(kind, ref)] = resolve(ref)
            return seen[(kind, ref)]

        spec.size = once("size", spec.size, lambda r: self.resolve_size(r).id)
        spec.image = once("image", spec.image, lambda r: self.resolve_image(r).id)
        if spec.location is not None:
            spec.location = once("location", spec.location, lambda r: self.resolve_location(r).id)
        if spec.key_name is not None:
            once("key", spec.key_name, self._key_exists)
        bad = [k for k, v in spec.tags.items() if not isinstance(k, str) or not isinstance(v, str)]
        if bad:
            raise ValidationError(f"tag keys and values must be text: {bad!r}", provider=self.provider)

    def _key_exists(self, name: str) -> str:
        try:
            return self.get_key_pair(name).name
        except NotFound:
            raise ValidationError(
                f"key pair {name!r} does not exist; import it first", provider=self.provider
            ) from None

    def _resolve(self, kind: str, ref: str, candidates: Iterable[T]) -> T:
        items = list(candidates)
        for item in items:
            if ref in (getattr(item, "id", None), getattr(item, "name", None)):
                return item
        names = ", ".join(sorted({str(getattr(i, "id", i)) for i in items})[:20]) or "none"
        raise ValidationError(f"unknown {kind} {ref!r} (known: {names})", provider=self.provider)

    def resolve_size(self, size: Size | str) -> Size:
        return size if isinstance(size, Size) else self._resolve("size", size, self.list_sizes())

    def resolve_image(self, image: Image | str) -> Image:
        return image if isinstance(image, Image) else self._resolve("image", image, self.list_images())

    def resolve_location(self, location: Location | str) -> Location:
        if isinstance(location, Location):
            return location
        return self._resolve("location", location, self.list_locations())

    def reboot_node(self, node: NodeRef) -> None:
        self._node_action(self.get_node(node), "reboot")

    def start_node(self, node: NodeRef) -> None:
        self._node_action(self.get_node(node), "start")

    def stop_node(self, node: NodeRef) -> None:
        self._node_action(self.get_node(node), "stop")

    def destroy_node(self, node: NodeRef) -> None:
        """Destroy a node; :class:`NotFound` when it does not exist."""
        self._node_action(self.get_node(node), "destroy")

    def wait_for_state(
        self,
        node: NodeRef,
        states: Sequence[NodeState | str] | NodeState | str,
        *,
        timeout: float = 300.0,
        require_address: bool = False,
    ) -> Node:
        """Poll until the node is in one of ``states`` (and has an address, if asked).

        A timeout is a :class:`~driver_core.errors.Timeout` that says what state was reached.
        """
        wanted = {NodeState(s) for s in ([states] if isinstance(states, str) else states)}
        deadline = time.monotonic() + timeout
        while True:
            current = self.get_node(node)
            has_address = bool(current.public_ips or current.private_ips)
            if current.state in wanted and (has_address or not require_address):
                return current
            if time.monotonic() >= deadline:
                want = " or ".join(sorted(s.value for s in wanted))
                extra = " with an address" if require_address else ""
                raise Timeout(
                    f"node {current.name or current.id!r} is {current.state.value!r}"
                    f"{' without an address' if current.state in wanted else ''} after {timeout:g} s; "
                    f"waited for {want}{extra}",
                    provider=self.provider,
                )
            self.sleep(min(self.poll_interval, max(0.0, deadline - time.monotonic())))

    # ------------------------------------------------------------------- bulk
    def create_nodes(self, specs: Iterable[NodeSpec | Mapping[str, Any]], *, concurrency: int = 8) -> list[Node]:
        """Create many nodes, ``concurrency`` at a time.

        Every spec is checked before any node is created. When some creates fail,
        :class:`PartialFailure` carries every node that was created (``created``)
        and every error; :meth:`rollback` destroys what it created.
        """
        from concurrent.futures import ThreadPoolExecutor

        checked = [NodeSpec.of(s) for s in specs]
        if concurrency < 1:
            raise ValidationError("concurrency must be at least 1", provider=self.provider)
        known: dict[tuple[str, str], str] = {}
        for spec in checked:
            self._check_spec(spec, known)
        created: list[Node] = []
        failures: list[BaseException] = []
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="driver-core-create") as pool:
            futures = [pool.submit(self._create_node, spec) for spec in checked]
            for future in futures:
                try:
                    created.append(future.result())
                except DriverError as exc:
                    failures.append(exc)
        if failures:
            raise PartialFailure(
                f"{len(failures)} of {len(checked)} nodes could not be created; {len(created)} were "
                f"(first error: {failures[0]})",
                created=created,
                errors=failures,
                provider=self.provider,
            )
        return created

    def destroy_nodes(self, nodes: Iterable[NodeRef], *, concurrency: int = 8) -> list[BaseException]:
        """Destroy many nodes, ``concurrency`` at a time; returns the errors (empty when all went)."""
        from concurrent.futures import ThreadPoolExecutor

        errors: list[BaseException] = []
        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            for future in [pool.submit(self.destroy_node, n) for n in nodes]:
                try:
                    future.result()
                except NotFound:
                    pass  # already gone: that is what was wanted
                except DriverError as exc:
                    errors.append(exc)
        return errors

    def rollback(self, failure: PartialFailure, *, concurrency: int = 8) -> list[BaseException]:
        """Destroy every node a failed :meth:`create_nodes` created; returns the errors."""
        return self.destroy_nodes([n for n in failure.created if isinstance(n, Node)], concurrency=concurrency)

    # -------------------------------------------------- sizes, images, places
    def list_sizes(self) -> list[Size]:
        raise self.not_supported("list_sizes")

    def list_images(self) -> list[Image]:
        raise self.not_supported("list_images")

    def list_locations(self) -> list[Location]:
        raise self.not_supported("list_locations")

    # ---------------------------------------------------------------- volumes
    def list_volumes(self) -> list[Volume]:
        raise self.not_supported("list_volumes")

    def get_volume(self, volume: VolumeRef) -> Volume:
        wanted = id_of(volume)
        for found in self.list_volumes():
            if found.id == wanted:
                return found
        raise NotFound(f"volume {wanted!r} does not exist", provider=self.provider)

    def create_volume(
        self, size_gb: int, name: str, *, location: Location | str | None = None, tags: Mapping[str, str] | None = None
    ) -> Volume:
        if not isinstance(size_gb, int) or size_gb < 1:
            raise ValidationError(
                f"a volume size must be a whole number of GB, not {size_gb!r}", provider=self.provider
            )
        where = self.resolve_location(location).id if location is not None else None
        return self._create_volume(size_gb, name, where, dict(tags or {}))

    def attach_volume(self, volume: VolumeRef, node: NodeRef, device: str | None = None) -> Volume:
        """Attach a volume to a node; unknown volumes or nodes are :class:`NotFound` before anything changes."""
        vol, target = self.get_volume(volume), self.get_node(node)
        return self._attach_volume(vol, target, device)

    def detach_volume(self, volume: VolumeRef) -> Volume:
        return self._detach_volume(self.get_volume(volume))

    def destroy_volume(self, volume: VolumeRef) -> None:
        self._destroy_volume(self.get_volume(volume))

    # -------------------------------------------------------------- snapshots
    def list_snapshots(self) -> list[Snapshot]:
        raise self.not_supported("list_snapshots")

    def create_snapshot(self, volume: VolumeRef, name: str) -> Snapshot:
        return self._create_snapshot(self.get_volume(volume), name)

    def destroy_snapshot(self, snapshot: Snapshot | str) -> None:
        wanted = id_of(snapshot)
        if not any(s.id == wanted for s in self.list_snapshots()):
            raise NotFound(f"snapshot {wanted!r} does not exist", provider=self.provider)
        self._destroy_snapshot(wanted)

    # -------------------------------------------------------------- key pairs
    def list_key_pairs(self) -> list[KeyPair]:
        raise self.not_supported("list_key_pairs")

    def get_key_pair(self, name: str) -> KeyPair:
        for pair in self.list_key_pairs():
            if pair.name == name:
                return pair
        raise NotFound(f"key pair {name!r} does not exist", provider=self.provider)

    def create_key_pair(self, name: str) -> KeyPair:
        """Create a key pair; the returned model's ``private_key`` is the only copy there will be."""
        raise self.not_supported("create_key_pair")

    def import_key_pair(self, name: str, public_key: str) -> KeyPair:
        raise self.not_supported("import_key_pair")

    def delete_key_pair(self, name: str) -> None:
        raise self.not_supported("delete_key_pair")

    # ------------------------------------------------------------------- tags
    def update_tags(
        self, resource: Node | Volume | str, *, set: Mapping[str, str] | None = None, remove: Iterable[str] = ()
    ) -> None:
        """Add or change the tags in ``set`` and remove the keys in ``remove`` on a node or volume."""
        raise self.not_supported("update_tags")

    # ----------------------------------------------- primitives for providers
    def _create_node(self, spec: NodeSpec) -> Node:
        raise self.not_supported("create_node")

    def _node_action(self, node: Node, action: str) -> None:
        """``action`` is reboot, start, stop or destroy."""
        raise self.not_supported(f"{action}_node")

    def _create_volume(self, size_gb: int, name: str, location: str | None, tags: dict[str, str]) -> Volume:
        raise self.not_supported("create_volume")

    def _attach_volume(self, volume: Volume, node: Node, device: str | None) -> Volume:
        raise self.not_supported("attach_volume")

    def _detach_volume(self, volume: Volume) -> Volume:
        raise self.not_supported("detach_volume")

    def _destroy_volume(self, volume: Volume) -> None:
        raise self.not_supported("destroy_volume")

    def _create_snapshot(self, volume: Volume, name: str) -> Snapshot:
        raise self.not_supported("create_snapshot")

    def _destroy_snapshot(self, snapshot_id: str) -> None:
        raise self.not_supported("destroy_snapshot")


__all__ = ["ComputeDriver", "NodeSpec", "id_of", "name_of"]
