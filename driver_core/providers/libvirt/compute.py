"""libvirt compute: domains as nodes, a size table as flavours, pool volumes as images and volumes.

``endpoint`` is a libvirt URI (``qemu:///system``, ``qemu+ssh://user@host/system``, ``test:///default``);
:mod:`driver_core.profiles` fills it from ``LIBVIRT_DEFAULT_URI``. The driver keeps one connection, opened
on first use under a lock and shared by every thread (libvirt connections are thread-safe). ``test:///default``
is libvirt's in-process test hypervisor, whose state lives only while a connection to it (or an object got
from one) is alive: drivers open at the same time share it, and it is gone once the last is closed, so a test
hypervisor's state lives as long as the driver.

* node = domain; ``Node.id`` is the domain UUID (a name finds it too). A metadata element in
  :data:`NAMESPACE` keeps the tags, size, image, location, client token (a create retried with the same token
  returns the node made the first time), the volume made for the root disk, and the user data.
* sizes: :data:`SIZES` plus ``options["sizes"]`` (``{"name": {"vcpus": 2, "ram_mb": 1024, "disk_gb": 20}}``;
  ``disk_gb`` grows the root disk). Images: every volume of every active storage pool, plus
  ``options["images"]`` mapping names to base-image paths on the host. A node's root disk is a clone of the
  image volume (``createXMLFrom``) in the node's location; where the pool cannot clone, or the image is a
  path outside the pools, the disk is the image itself. Locations: the active storage pools of the host.
* volumes: every volume of every active pool; they carry no tags. Attaching hot-plugs the disk (and keeps it
  in the definition); a hypervisor that cannot hot-plug (the test driver) gets it at the next start.
* not supported: snapshots (libvirt's are of domains, not volumes) and key pairs: ``list_key_pairs`` is
  empty, so a ``key_name`` is refused (ValidationError) by the base spec check. User data is only kept in
  the metadata: handing it to cloud-init (a config drive or NoCloud seed) is out of scope.

Other ``options``: ``pool`` (for volumes created without a location; default ``default``, else the first
pool), ``network`` (the network a node joins, default ``default`` when there is one; per node in
``extra["network"]``), ``graceful_stop`` (an ACPI shutdown instead of a power-off), ``address_source``
(``lease``, ``agent`` or ``arp``). ``extra={"start": False}`` defines a node without starting it.
The driver installs a silent libvirt error handler (libvirt prints each error to stderr otherwise; the
handler is process-wide): errors reach callers as the driver-core error tree, never as a libvirtError.
"""

from __future__ import annotations

import contextlib
import math
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, ClassVar, TypeVar
from xml.sax.saxutils import escape, quoteattr

from ...compute import ComputeDriver, NodeRef, NodeSpec, VolumeRef, id_of
from ...errors import Conflict, DriverError, NotFound, NotSupported, ProviderError, ValidationError
from ...models import Image, KeyPair, Location, Node, NodeState, Size, Snapshot, Volume
from ...profiles import ConnectionOptions
from ...transport import paginate_sequence
from . import Connection
from .domxml import (
    ADDRESS_SOURCES,
    BUSES,
    DEVICE,
    GIB,
    NAMESPACE,
    PREFIX,
    SIZES,
    SNAPSHOT_HINT,
    STATES,
    _disk_source,
    _Meta,
    _positive,
    _target,
)

A = TypeVar("A")
B = TypeVar("B")


class LibvirtComputeDriver(ComputeDriver):
    """Compute on one libvirt host (see the module docstring). Safe to share between threads."""

    provider: ClassVar[str] = "libvirt"
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"nodes", "sizes", "images", "locations", "volumes", "tags", "bulk"}
    )
    poll_interval: ClassVar[float] = 0.5

    def __init__(self, options: ConnectionOptions) -> None:
        super().__init__(options)
        if not options.endpoint:
            raise self._fail(
                ValidationError,
                "the provider needs a libvirt URI: pass endpoint='qemu:///system' "
                "(or 'qemu+ssh://user@host/system', 'test:///default') or set LIBVIRT_DEFAULT_URI",
            )
        self.uri = options.endpoint
        self._libvirt = Connection(self.uri)
        self._lv, self._lock = self._libvirt.lv, self._libvirt.lock
        self._connection, self._errors = self._libvirt.get, self._libvirt.errors
        extra = options.options
        self._sizes = self._size_table(extra.get("sizes"))
        images = extra.get("images") or {}
        if not isinstance(images, Mapping) or not all(isinstance(v, str) and v for v in images.values()):
            raise self._fail(ValidationError, "option images must map image names to paths")
        self._images: dict[str, str] = {str(k): v for k, v in images.items()}
        if extra.get("address_source", "lease") not in ADDRESS_SOURCES:
            raise self._fail(ValidationError, "option address_source must be one of lease, agent, arp")
        self._address_source = ADDRESS_SOURCES[extra.get("address_source", "lease")]
        self._graceful = bool(extra.get("graceful_stop", False))
        self._pending: set[str] = set()  # names and client tokens of creates under way
        self._guest: tuple[str, str] | None = None

    def _fail(self, cls: type[DriverError], message: str) -> DriverError:
        return cls(message, provider=self.provider)

    def _size_table(self, custom: Any) -> dict[str, Size]:
        table = {n: Size(id=n, name=n, vcpus=c, ram_mb=r) for n, (c, r) in SIZES.items()}
        if custom is not None and not isinstance(custom, Mapping):
            raise self._fail(ValidationError, "option sizes must map size names to {vcpus, ram_mb, disk_gb}")
        for name, spec in (custom or {}).items():
            try:
                disk = _positive(spec["disk_gb"]) if spec.get("disk_gb") is not None else None
                table[str(name)] = Size(str(name), str(name), _positive(spec["vcpus"]), _positive(spec["ram_mb"]), disk)
            except (KeyError, TypeError, ValueError, AttributeError):
                message = f"option sizes[{name!r}] must be {{vcpus: n, ram_mb: n, disk_gb: n (optional)}}, not {spec!r}"
                raise self._fail(ValidationError, message) from None
        return table

    def close(self) -> None:
        """Close the connection (on ``test:///default`` the last close discards the hypervisor's state)."""
        self._libvirt.close()

    def _paged(self, items: Sequence[A], convert: Callable[[A], Iterable[B]]) -> Iterator[B]:
        """Convert ``items`` a page at a time, through the one pagination helper."""

        return (out for item in paginate_sequence(items, self.page_size) for out in convert(item))

    # ----------------------------------------------------------------- nodes
    def _xml(self, dom: Any) -> ET.Element:
        """The domain's persistent definition (the live one for a transient domain)."""
        return ET.fromstring(dom.XMLDesc(self._lv.VIR_DOMAIN_XML_INACTIVE))

    def _domains(self) -> list[Any]:
        with self._errors("listing domains"):
            return list(self._connection().listAllDomains(0))

    def _definitions(self) -> list[tuple[Any, ET.Element]]:
        """Every domain with its definition (domains that vanish meanwhile are left out)."""
        found = []
        for dom in self._domains():
            with contextlib.suppress(NotFound), self._errors(f"domain {dom.name()!r}"):
                found.append((dom, self._xml(dom)))
        return found

    def iterate_nodes(self) -> Iterator[Node]:
        def node(dom: Any) -> list[Node]:
            with contextlib.suppress(NotFound):
                return [self._node(dom)]
            return []  # undefined since it was listed

        return self._paged(self._domains(), node)

    def _node(self, dom: Any) -> Node:
        with self._errors(f"node {dom.name()!r}"):
            root, state, uuid = self._xml(dom), dom.state()[0], dom.UUIDString()
            ips, persistent = self._addresses(dom) if dom.isActive() else [], bool(dom.isPersistent())
        meta = _Meta.read(root)
        vcpus, memory_mb = int(root.findtext("vcpu") or 0), int(root.findtext("memory") or 0) // 1024  # from KiB
        sizes = (s.id for s in self._sizes.values() if (s.vcpus, s.ram_mb) == (vcpus, memory_mb))
        disks = [{"device": _target(d), "source": _disk_source(d)} for d in root.iterfind("devices/disk")]
        extra = {"vcpus": vcpus, "memory_mb": memory_mb, "persistent": persistent, "disks": disks}
        extra.update(domain_type=root.get("type"), root_volume=meta.root_volume)
        created = datetime.fromisoformat(meta.created) if meta.created else None
        return Node(
            id=uuid,
            name=dom.name(),
            state=STATES.get(state, NodeState.UNKNOWN),
            private_ips=ips,
            size=meta.size or next(sizes, None),
            image=meta.image,
            location=meta.location,
            created=created,
            tags=meta.tags,
            extra=extra,
        )

    def _addresses(self, dom: Any) -> list[str]:
        """The node's addresses as the address source knows them ([] when it cannot tell)."""
        try:
            interfaces = dom.interfaceAddresses(self._address_source, 0) or {}
        except self._lv.libvirtError:
            return []
        addrs = [a.get("addr") for i in interfaces.values() for a in (i.get("addrs") or [])]
        return [a for a in addrs if a and not a.startswith("127.") and a != "::1"]

    def _domain(self, ref: str) -> Any:
        """The domain with this UUID or name."""
        conn = self._connection()
        with self._errors(f"node {ref!r}"):
            try:
                return conn.lookupByUUIDString(ref)
            except self._lv.libvirtError as exc:
                if exc.get_error_code() not in (self._lv.VIR_ERR_NO_DOMAIN, self._lv.VIR_ERR_INVALID_ARG):
                    raise
            return conn.lookupByName(ref)

    def get_node(self, node: NodeRef) -> Node:
        """The node with this id (domain UUID) or name; :class:`NotFound` when there is none."""
        return self._node(self._domain(id_of(node)))

    def _create_node(self, spec: NodeSpec) -> Node:
        keys = {f"name:{spec.name}", f"token:{spec.client_token}"}
        with self._lock:
            for dom, root in self._definitions():
                if _Meta.read(root).token == spec.client_token:
                    return self._node(dom)  # a retry of a create that went through
            if keys & self._pending:
                raise self._fail(Conflict, f"node {spec.name!r} (or its client token) is being created already")
            with contextlib.suppress(NotFound):
                self._domain(spec.name)
                raise self._fail(Conflict, f"a node named {spec.name!r} exists already")
            self._pending |= keys
        try:
            return self._define(spec)
        finally:
            with self._lock:
                self._pending -= keys

    def _define(self, spec: NodeSpec) -> Node:
        size, image, interface = self.resolve_size(spec.size), self.resolve_image(spec.image), self._interface(spec)
        created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        meta = _Meta(
            spec.client_token, size.id, image.id, spec.location, None, created, spec.user_data, dict(spec.tags)
        )
        disk, volume = self._root_disk(spec, size, image, meta)
        dom = None
        try:
            dtype, arch = self._guest_type()
            features = "<features><acpi/><apic/></features>" if arch in ("i686", "x86_64") else ""
            xml = (
                f"<domain type={quoteattr(dtype)}><name>{escape(spec.name)}</name>"
                f"<metadata>{meta.xml(PREFIX + ':')}</metadata>"
                f"<memory unit='MiB'>{size.ram_mb or 512}</memory><vcpu>{size.vcpus or 1}</vcpu>"
                f"<os><type arch={quoteattr(arch)}>hvm</type><boot dev='hd'/></os>{features}"
                f"<devices>{disk}{interface}<serial type='pty'/><console type='pty'/></devices></domain>"
            )
            with self._errors(f"defining node {spec.name!r}"):
                dom = self._connection().defineXML(xml)
            if spec.extra.get("start", True):
                with self._errors(f"starting node {spec.name!r}"):
                    dom.create()
        except DriverError:
            with contextlib.suppress(DriverError), self._errors("cleaning up"):
                if dom is not None:
                    self._remove_domain(dom)
                if volume is not None:
                    volume.delete(0)
            raise
        return self._node(dom)

    def _guest_type(self) -> tuple[str, str]:
        """The domain type (kvm, else qemu, else what the host offers) and architecture for new nodes."""
        with self._lock:
            if self._guest is None:
                with self._errors("reading the host capabilities"):
                    caps = ET.fromstring(self._connection().getCapabilities())
                host, rank = caps.findtext("host/cpu/arch"), {"kvm": 0, "qemu": 1}
                guests = [g for g in caps.iterfind("guest") if g.findtext("os_type") == "hvm"]
                offers = [
                    (a.get("name", ""), d.get("type", ""))
                    for g in guests
                    for a in g.iterfind("arch")
                    for d in a.iterfind("domain")
                ]
                if not offers:
                    raise self._fail(ProviderError, f"{self.uri} offers no hvm guest to define nodes with")
                arch, dtype = min(offers, key=lambda o: (rank.get(o[1], 2), o[0] != host))
                self._guest = (dtype, arch)
            return self._guest

    def _interface(self, spec: NodeSpec) -> str:
        asked = spec.extra.get("network", self.options.options.get("network"))
        try:
            with self._errors(f"network {asked or 'default'!r}"):
                self._connection().networkLookupByName(asked or "default")
        except NotFound:
            if asked:
                raise self._fail(ValidationError, f"network {asked!r} does not exist") from None
            return ""
        source = quoteattr(asked or "default")
        return f"<interface type='network'><source network={source}/><model type='virtio'/></interface>"

    def _disk_xml(self, dev: str, fmt: str, *, path: str = "", volume: str = "") -> str:
        """A ``<disk>``: a pool ``volume`` ("pool/name"), else a file or block device by ``path``."""
        bus = BUSES[DEVICE.fullmatch(dev).group(1)]  # type: ignore[union-attr]
        driver = f"<driver name='qemu' type={quoteattr(fmt)}/>" if self._guest_type()[0] in ("kvm", "qemu") else ""
        if volume:
            pool, _, name = volume.partition("/")
            kind, source = "volume", f"<source pool={quoteattr(pool)} volume={quoteattr(name)}/>"
        elif path.startswith("/dev/"):
            kind, source = "block", f"<source dev={quoteattr(path)}/>"
        else:
            kind, source = "file", f"<source file={quoteattr(path)}/>"
        return f"<disk type='{kind}' device='disk'>{driver}{source}<target dev={quoteattr(dev)} bus='{bus}'/></disk>"

    def _format(self, vol: Any) -> str:
        fmt = ET.fromstring(vol.XMLDesc(0)).find("target/format")
        return "raw" if fmt is None else fmt.get("type", "raw")

    def _root_disk(self, spec: NodeSpec, size: Size, image: Image, meta: _Meta) -> tuple[str, Any]:
        """The root disk of a new node, and the volume cloned for it (None when the disk is the image)."""
        conn, base = self._connection(), None
        with self._errors(f"image {image.name!r}"):
            if image.extra.get("pool"):
                base = conn.storageVolLookupByKey(image.id)
            else:
                with contextlib.suppress(self._lv.libvirtError):
                    base = conn.storageVolLookupByPath(image.id)
        if base is None:
            return self._disk_xml("vda", "qcow2" if image.id.endswith(".qcow2") else "raw", path=image.id), None
        with self._errors(f"image {image.name!r}"):
            fmt = self._format(base)
            pool = conn.storagePoolLookupByName(spec.location) if spec.location else base.storagePoolLookupByVolume()
            capacity = max(base.info()[1], (size.disk_gb or 0) * GIB)
        name = f"{spec.name}-{spec.client_token[:8]}"
        xml = (
            f"<volume><name>{escape(name)}</name><capacity unit='bytes'>{capacity}</capacity>"
            f"<target><format type={quoteattr(fmt)}/></target></volume>"
        )
        try:
            with self._errors(f"cloning image {image.name!r} into pool {pool.name()!r}"):
                vol = pool.createXMLFrom(xml, base, 0)
        except NotSupported:
            return self._disk_xml("vda", fmt, path=base.path()), None
        meta.location, meta.root_volume = pool.name(), vol.key()
        return self._disk_xml("vda", fmt, volume=f"{pool.name()}/{name}"), vol

    def _node_action(self, node: Node, action: str) -> None:
        lv, dom = self._lv, self._domain(node.id)
        with self._errors(f"{action} node {node.name!r}"):
            if action == "destroy":
                root_volume = _Meta.read(self._xml(dom)).root_volume
                self._remove_domain(dom)
                if root_volume:
                    try:
                        self._connection().storageVolLookupByKey(root_volume).delete(0)
                    except lv.libvirtError as exc:
                        if exc.get_error_code() != lv.VIR_ERR_NO_STORAGE_VOL:
                            raise
            elif action == "reboot":
                dom.reboot(0)  # a stopped node: OPERATION_INVALID, so Conflict
            elif action == "start":
                state = dom.state()[0]
                if state == lv.VIR_DOMAIN_PAUSED:
                    dom.resume()
                elif state == lv.VIR_DOMAIN_PMSUSPENDED:
                    dom.pMWakeup(0)
                elif not dom.isActive():
                    dom.create()
            elif action == "stop" and dom.isActive():
                dom.shutdown() if self._graceful else dom.destroy()

    def _remove_domain(self, dom: Any) -> None:
        """Power off and undefine, with its managed save, snapshot metadata (and NVRAM where allowed)."""
        lv, persistent = self._lv, dom.isPersistent()
        if dom.isActive():
            dom.destroy()
        if not persistent:
            return
        flags = lv.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | lv.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
        more = getattr(lv, "VIR_DOMAIN_UNDEFINE_NVRAM", 0) | getattr(lv, "VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA", 0)
        try:
            dom.undefineFlags(flags | more)
        except lv.libvirtError as exc:  # the test driver refuses the NVRAM and checkpoint flags
            if exc.get_error_code() not in (lv.VIR_ERR_INVALID_ARG, lv.VIR_ERR_NO_SUPPORT):
                raise
            dom.undefineFlags(flags)

    # ------------------------------------------------ sizes, images, places
    def list_sizes(self) -> list[Size]:
        return list(self._sizes.values())

    def _pools(self) -> list[Any]:
        with self._errors("listing storage pools"):
            pools = self._connection().listAllStoragePools(self._lv.VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE)
            return sorted(pools, key=lambda p: p.name())

    def _pool_volumes(self, pool: Any) -> list[tuple[Any, str, str, int]]:
        """(volume, key, path, capacity in bytes) of each volume of a pool still there."""
        found = []
        with self._errors(f"storage pool {pool.name()!r}"):
            volumes = sorted(pool.listAllVolumes(0), key=lambda v: v.name())
        for vol in volumes:
            with contextlib.suppress(NotFound), self._errors(f"volume {vol.name()!r}"):
                found.append((vol, vol.key(), vol.path(), vol.info()[1]))
        return found

    def list_images(self) -> list[Image]:
        """The images of ``options["images"]``, then every volume of every active pool."""

        def images(pool: Any) -> list[Image]:
            return [
                Image(key, vol.name(), {"pool": pool.name(), "path": path, "size_gb": math.ceil(cap / GIB)})
                for vol, key, path, cap in self._pool_volumes(pool)
            ]

        configured = [Image(id=path, name=name, extra={"path": path}) for name, path in self._images.items()]
        return configured + list(self._paged(self._pools(), images))

    def list_locations(self) -> list[Location]:
        """One location per active storage pool."""

        def location(pool: Any) -> list[Location]:
            with contextlib.suppress(NotFound), self._errors(f"storage pool {pool.name()!r}"):
                root, available = ET.fromstring(pool.XMLDesc(0)), pool.info()[3]
                extra = {
                    "uuid": pool.UUIDString(),
                    "type": root.get("type"),
                    "path": root.findtext("target/path"),
                    "available_gb": available // GIB,
                    "uri": self.uri,
                }
                return [Location(id=pool.name(), name=pool.name(), extra=extra)]
            return []

        return list(self._paged(self._pools(), location))

    # --------------------------------------------------------------- volumes
    def list_volumes(self) -> list[Volume]:
        """Every volume of every active pool, with the node and device it is attached to."""
        attached = {
            source: (dom.UUIDString(), _target(disk))
            for dom, root in self._definitions()
            for disk in root.iterfind("devices/disk")
            if (source := _disk_source(disk))
        }

        def volumes(pool: Any) -> list[Volume]:
            out = []
            for vol, key, path, capacity in self._pool_volumes(pool):
                node, dev = attached.get(path) or attached.get(f"volume:{pool.name()}/{vol.name()}") or (None, None)
                extra = {"path": path, "pool": pool.name(), "capacity_bytes": capacity}
                state = "in-use" if node else "available"
                size_gb, where = math.ceil(capacity / GIB), pool.name()
                out.append(Volume(key, vol.name(), size_gb, state, location=where, node=node, device=dev, extra=extra))
            return out

        return list(self._paged(self._pools(), volumes))

    def get_volume(self, volume: VolumeRef) -> Volume:
        """The volume with this id (the libvirt volume key), path, or (unique) name."""
        wanted, found = id_of(volume), self.list_volumes()
        matches = [v for v in found if wanted in (v.id, v.extra.get("path"))] or [v for v in found if v.name == wanted]
        if len(matches) > 1:
            raise self._fail(ValidationError, f"more than one volume is named {wanted!r}; use its id")
        if not matches:
            raise self._fail(NotFound, f"volume {wanted!r} does not exist")
        return matches[0]

    def _create_volume(self, size_gb: int, name: str, location: str | None, tags: dict[str, str]) -> Volume:
        if tags:
            raise self._fail(ValidationError, "libvirt volumes carry no tags")
        if not name or "/" in name:
            raise self._fail(ValidationError, f"invalid volume name {name!r}")
        conn, wanted = self._connection(), location or self.options.options.get("pool")
        with self._errors(f"storage pool {wanted!r}"):
            pools = [conn.storagePoolLookupByName(wanted)] if wanted else self._pools()
        pool = next((p for p in pools if p.name() == "default"), pools[0] if pools else None)
        if pool is None:
            raise self._fail(ValidationError, f"{self.uri} has no active storage pool for volumes")
        with self._lock, self._errors(f"creating volume {name!r} in pool {pool.name()!r}"):
            if name in [v.name() for v in pool.listAllVolumes(0)]:
                raise self._fail(Conflict, f"volume {name!r} exists already in pool {pool.name()!r}")
            xml = f"<volume><name>{escape(name)}</name><capacity unit='G'>{size_gb}</capacity></volume>"
            return self.get_volume(pool.createXML(xml, 0).key())

    def _in_use(self, volume: Volume) -> DriverError:
        message = f"volume {volume.name!r} is attached to node {volume.node} as {volume.device}; detach it first"
        return self._fail(Conflict, message)

    def _attach_volume(self, volume: Volume, node: Node, device: str | None) -> Volume:
        with self._lock:
            current = self.get_volume(volume.id)
            if current.node == node.id:
                return current
            if current.node:
                raise self._in_use(current)
            dom = self._domain(node.id)
            with self._errors(f"attaching volume {volume.name!r} to node {node.name!r}"):
                used = {_target(d) for d in self._xml(dom).iterfind("devices/disk")}
                fmt = self._format(self._connection().storageVolLookupByKey(volume.id))
            free = next((f"vd{c}" for c in "bcdefghijklmnopqrstuvwxyz" if f"vd{c}" not in used), "")
            dev = (device or free).removeprefix("/dev/")
            if not DEVICE.fullmatch(dev):
                raise self._fail(ValidationError, f"device must look like vdb, sdc or /dev/vdb, not {device!r}")
            if dev in used:
                raise self._fail(Conflict, f"device {dev} of node {node.name!r} is in use")
            self._change_disk(dom, self._disk_xml(dev, fmt, volume=f"{current.location}/{current.name}"), dev, True)
            return self.get_volume(volume.id)

    def _detach_volume(self, volume: Volume) -> Volume:
        """Detach a volume; one attached nowhere is returned as it is."""
        with self._lock:
            current = self.get_volume(volume.id)
            if not current.node or not current.device:
                return current
            dom = self._domain(current.node)
            with self._errors(f"node {current.node!r}"):
                root = self._xml(dom)
            if _Meta.read(root).root_volume == current.id:
                raise self._fail(Conflict, f"volume {current.name!r} is the root disk of node {dom.name()!r}")
            for disk in root.iterfind("devices/disk"):
                if _target(disk) == current.device:
                    self._change_disk(dom, ET.tostring(disk, encoding="unicode"), current.device, False)
            return self.get_volume(volume.id)

    def _change_disk(self, dom: Any, disk: str, dev: str, attach: bool) -> None:
        """Hot-plug or unplug a disk, live and in the definition; where the hypervisor cannot hot-plug
        (the test driver), edit the definition, which takes effect at the next start."""
        lv, what = self._lv, f"{'attaching' if attach else 'detaching'} {dev} on node {dom.name()!r}"
        with self._errors(what):
            persistent, live = dom.isPersistent(), dom.isActive()
            if live and not attach:  # unplug live only what is live
                live = any(_target(d) == dev for d in ET.fromstring(dom.XMLDesc(0)).iterfind("devices/disk"))
        flags = (lv.VIR_DOMAIN_AFFECT_CONFIG if persistent else 0) | (lv.VIR_DOMAIN_AFFECT_LIVE if live else 0)
        try:
            with self._errors(what):
                (dom.attachDeviceFlags if attach else dom.detachDeviceFlags)(disk, flags)
                return
        except NotSupported:
            if not persistent:
                raise
        with self._errors(what):
            root = self._xml(dom)
            devices = root.find("devices")
            devices = ET.SubElement(root, "devices") if devices is None else devices
            if attach:
                devices.append(ET.fromstring(disk))
            for old in [d for d in devices.iterfind("disk") if not attach and _target(d) == dev]:
                devices.remove(old)
            self._connection().defineXML(ET.tostring(root, encoding="unicode"))

    def _destroy_volume(self, volume: Volume) -> None:
        with self._lock:
            current = self.get_volume(volume.id)
            if current.node:
                raise self._in_use(current)
            with self._errors(f"deleting volume {volume.name!r}"):
                self._connection().storageVolLookupByKey(volume.id).delete(0)

    # ---------------------------------------------- snapshots, keys, tags
    def list_snapshots(self) -> list[Snapshot]:
        raise self.not_supported("list_snapshots", SNAPSHOT_HINT)

    def create_snapshot(self, volume: VolumeRef, name: str) -> Snapshot:
        raise self.not_supported("create_snapshot", SNAPSHOT_HINT)

    def list_key_pairs(self) -> list[KeyPair]:
        """Always empty: libvirt has no key pairs (so a node's ``key_name`` is refused)."""
        return []

    def update_tags(
        self, resource: Node | Volume | str, *, set: Mapping[str, str] | None = None, remove: Iterable[str] = ()
    ) -> None:
        """Rewrite the tags in a node's metadata element (volumes carry no tags)."""
        if isinstance(resource, Volume):
            raise self.not_supported("update_tags", "libvirt volumes carry no tags; only nodes (domains) do")
        changes = dict(set or {})
        if any(not isinstance(k, str) or not isinstance(v, str) for k, v in changes.items()):
            raise self._fail(ValidationError, f"tag keys and values must be text: {changes!r}")
        lv = self._lv
        with self._lock:
            dom = self._domain(id_of(resource))
            with self._errors(f"updating the tags of node {dom.name()!r}"):
                meta = _Meta.read(self._xml(dom))
                gone = frozenset(remove)
                meta.tags = {k: v for k, v in {**meta.tags, **changes}.items() if k not in gone}
                config = lv.VIR_DOMAIN_AFFECT_CONFIG if dom.isPersistent() else 0
                flags = config | (lv.VIR_DOMAIN_AFFECT_LIVE if dom.isActive() else 0)
                dom.setMetadata(lv.VIR_DOMAIN_METADATA_ELEMENT, meta.xml(), PREFIX, NAMESPACE, flags)


__all__ = ["NAMESPACE", "SIZES", "LibvirtComputeDriver"]
