"""Azure Blob storage: containers and block blobs over the Blob service REST API.

Everything the base contract decides (argument checks, parts, concurrency,
atomic downloads, streaming verification) lives in
:class:`driver_core.storage.StorageDriver`; this module only speaks the Blob
service: Put Blob for small objects, Put Block / Put Block List for large
ones, every body sent with its MD5 so the service verifies it, and downloads
checked against the size and MD5 the service announces.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote, unquote

import requests

from ... import xmlutil
from ...codec import b64, md5_hex_from_b64, parse_time, strip_etag
from ...errors import AuthError, Conflict, InvalidRequest, NotFound, ProviderError, RateLimited, ValidationError
from ...models import Container, Object
from ...profiles import ConnectionOptions
from ...storage import ContainerRef, Download, ObjectRef, StorageDriver, name_of
from ...transfer import MiB, Part, Verifier
from ...transport import Body, ErrorInfo, iter_body, paginate
from .auth import SharedKeySigner

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

#: Azure error codes whose meaning the HTTP status alone does not say precisely.
_CODES: dict[type[ProviderError], str] = {
    NotFound: "ContainerNotFound BlobNotFound ResourceNotFound",
    Conflict: "ContainerAlreadyExists BlobAlreadyExists ContainerBeingDeleted ContainerDisabled LeaseIdMissing "
    "LeaseAlreadyPresent LeaseNotPresentWithBlobOperation ConditionNotMet",
    AuthError: "AuthenticationFailed AuthorizationFailure AuthorizationPermissionMismatch "
    "AuthorizationResourceTypeMismatch InsufficientAccountPermissions AccountIsDisabled",
    InvalidRequest: "InvalidResourceName InvalidBlobOrBlock InvalidBlockId InvalidBlockList InvalidHeaderValue "
    "InvalidQueryParameterValue InvalidRange InvalidUri InvalidMetadata Md5Mismatch MissingRequiredHeader "
    "OutOfRangeInput RequestBodyTooLarge UnsupportedHeader",
    RateLimited: "ServerBusy",
}
CODE_MAP: dict[str, type[ProviderError]] = {code: cls for cls, codes in _CODES.items() for code in codes.split()}

_CONTAINER_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$")
_SPECIAL_CONTAINERS = frozenset({"$root", "$logs", "$web"})
#: Get Blob returns the MD5 of a ranged read only for ranges up to this size.
_RANGE_MD5_LIMIT = 4 * MiB


def _metadata_headers(metadata: Mapping[str, str]) -> dict[str, str]:
    return {f"x-ms-meta-{k}": v for k, v in metadata.items()}


def _metadata_from_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k[10:].lower(): v for k, v in headers.items() if k.lower().startswith("x-ms-meta-")}


def _uploaded(
    container: str,
    name: str,
    size: int,
    md5: bytes | None,
    content_type: str,
    metadata: dict[str, str],
    headers: Mapping[str, str],
) -> Object:
    """The object an upload just wrote, from what was sent and the answer's headers."""
    return Object(
        name=name,
        container=container,
        size=size,
        md5=md5.hex() if md5 else None,
        etag=strip_etag(headers.get("ETag")),
        content_type=content_type,
        metadata=dict(metadata),
        modified=parse_time(headers.get("Last-Modified")),
        extra={"blob_type": "BlockBlob"},
    )


def parse_error(resp: requests.Response) -> ErrorInfo:
    """Code, message and request id of an error answer (HEAD answers carry only headers)."""
    code = resp.headers.get("x-ms-error-code")
    message = ""
    if resp.content:
        try:
            root = xmlutil.parse(resp.content, "azure")
            code = xmlutil.text(root, "Code") or code
            message = (xmlutil.text(root, "Message") or "").split("\n", 1)[0].strip()
        except ProviderError:
            message = resp.text[:300].strip()
    # Azure puts the error message in the reason phrase too, which is all a HEAD answer has.
    return ErrorInfo(code, message or resp.reason or "", resp.headers.get("x-ms-request-id"))


@dataclass(slots=True)
class BlockUpload:
    """A block-blob upload in progress: where it goes and the prefix of its block ids."""

    container: str
    name: str
    url: str
    content_type: str
    metadata: dict[str, str]
    prefix: str

    def block_id(self, number: int) -> str:
        """Base64 block id of part ``number``; every id of one upload has the same length."""
        return b64(f"{self.prefix}{number:05d}".encode("ascii"))


class AzureBlobStorageDriver(StorageDriver):
    """Azure Blob storage (and Azurite), authorised with the account key or a SAS token.

    Connection options: ``key`` is the storage account name, ``secret`` its
    account key, ``token`` a SAS token instead of the key, ``endpoint`` a
    custom Blob endpoint (for Azurite ``http://127.0.0.1:10000/devstoreaccount1``).
    """

    provider: ClassVar[str] = "azure"
    deletes_non_empty_containers: ClassVar[bool] = True
    needs_whole_md5: ClassVar[bool] = True
    #: Metadata names must be C# identifiers; Azure keeps them case-insensitively, we lower-case them.
    metadata_key_pattern: ClassVar[re.Pattern[str]] = re.compile(r"^[a-z_][a-z0-9_]*$")
    max_page_size: ClassVar[int] = 5000
    default_page_size: ClassVar[int] = 5000
    min_part_size: ClassVar[int] = 1
    max_part_size: ClassVar[int] = 4000 * MiB
    max_parts: ClassVar[int] = 50_000

    def __init__(self, options: ConnectionOptions) -> None:
        super().__init__(options)
        account, secret, token = options.key, options.secret, options.token
        if not (secret or token) or not (account or (token and options.endpoint)):
            raise ValidationError(
                "Azure Blob storage needs the storage account name (key=... or AZURE_STORAGE_ACCOUNT) and its "
                "account key (secret=... or AZURE_STORAGE_KEY) or a SAS token (token=... or AZURE_STORAGE_SAS_TOKEN)",
                provider=self.provider,
            )
        self.account = account or ""
        endpoint = options.endpoint or f"https://{self.account}.blob.core.windows.net"
        if not endpoint.startswith(("http://", "https://")):
            raise ValidationError(
                f"the Azure endpoint must be an http(s) URL, not {endpoint!r}", provider=self.provider
            )
        self.endpoint = endpoint.rstrip("/")
        self.transport = self._make_transport(
            signer=SharedKeySigner(self.account, secret, sas_token=token),
            error_parser=parse_error,
            code_map=CODE_MAP,
            pool_size=max(16, 2 * self.concurrency),
        )

    def __repr__(self) -> str:
        return f"AzureBlobStorageDriver(account={self.account!r}, endpoint={self.endpoint!r})"

    def validate_container_name(self, name: str) -> str:
        """Azure container names: 3-63 lowercase letters, digits and single hyphens (or $root, $logs, $web)."""
        super().validate_container_name(name)
        if name not in _SPECIAL_CONTAINERS and not _CONTAINER_NAME.match(name):
            raise ValidationError(
                f"container name {name!r} is not valid on Azure: use 3 to 63 lowercase letters, digits and "
                "hyphens, starting and ending with a letter or digit, with no two hyphens in a row",
                provider=self.provider,
            )
        return name

    # ---------------------------------------------------------------- requests
    def _container_url(self, container: str) -> str:
        return f"{self.endpoint}/{container}"

    def _blob_url(self, container: str, name: str) -> str:
        return f"{self.endpoint}/{container}/{quote(name, safe='/')}"

    def _request(
        self,
        method: str,
        url: str,
        what: str,
        *,
        query: list[tuple[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        body: Body = None,
        stream: bool = False,
        accept: Callable[[requests.Response], bool] | None = None,
    ) -> requests.Response:
        """Send one request; an error says what was being done (``what``) before Azure's own words."""
        try:
            return self.transport.request(
                method, url, query=query, headers=headers, body=body, stream=stream, accept=accept
            )
        except ProviderError as exc:
            exc.message = f"{what}: {exc.message}"
            exc.args = (exc.message,)
            raise

    def _xml(self, url: str, what: str, query: list[tuple[str, str]]) -> ET.Element:
        resp = self._request("GET", url, what, query=query)
        return xmlutil.parse(resp.content, self.provider)

    # -------------------------------------------------------------- containers
    def iterate_containers(self) -> Iterator[Container]:
        """Every container of the account, across all pages."""

        def fetch(marker: str | None) -> tuple[Iterable[Container], str | None]:
            query = [("comp", "list"), ("maxresults", str(self.page_size))]
            if marker:
                query.append(("marker", marker))
            root = self._xml(f"{self.endpoint}/", "list containers", query)
            items = [self._container_from_xml(el) for el in root.iterfind("Containers/Container")]
            return items, xmlutil.text(root, "NextMarker")

        return paginate(fetch)

    @staticmethod
    def _container(
        name: str, etag: str | None, modified: str | None, metadata: dict[str, str] | None = None
    ) -> Container:
        when = parse_time(modified)
        extra: dict[str, Any] = {"etag": strip_etag(etag), "last_modified": when.isoformat() if when else None}
        if metadata is not None:
            extra["metadata"] = metadata
        return Container(name=name, extra=extra)

    @classmethod
    def _container_from_xml(cls, el: ET.Element) -> Container:
        props = el.find("Properties")
        return cls._container(
            xmlutil.text(el, "Name", "") or "", xmlutil.text(props, "Etag"), xmlutil.text(props, "Last-Modified")
        )

    def _container_request(self, method: str, name: str, what: str) -> requests.Response:
        return self._request(
            method, self._container_url(name), f"{what} container {name!r}", query=[("restype", "container")]
        )

    def get_container(self, name: ContainerRef) -> Container:
        """The container called ``name``; :class:`NotFound` when there is none."""
        cname = self.validate_container_name(name_of(name))
        h = self._container_request("HEAD", cname, "get").headers
        return self._container(cname, h.get("ETag"), h.get("Last-Modified"), _metadata_from_headers(h))

    def create_container(self, name: str) -> Container:
        """Create a private container; :class:`Conflict` when it exists (or is still being deleted)."""
        cname = self.validate_container_name(name)
        h = self._container_request("PUT", cname, "create").headers
        return self._container(cname, h.get("ETag"), h.get("Last-Modified"), {})

    def _delete_container(self, name: str) -> None:
        # Azure deletes the container (and anything in it) in the background; for a
        # while afterwards creating the same name fails with ContainerBeingDeleted.
        self._container_request("DELETE", name, "delete")

    # ----------------------------------------------------------------- objects
    def _iterate_objects(self, container: str, prefix: str | None, page_size: int) -> Iterator[Object]:
        url = self._container_url(container)
        what = f"list objects in container {container!r}"

        def fetch(marker: str | None) -> tuple[Iterable[Object], str | None]:
            query = [
                ("restype", "container"),
                ("comp", "list"),
                ("include", "metadata"),
                ("maxresults", str(page_size)),
            ]
            if prefix:
                query.append(("prefix", prefix))
            if marker:
                query.append(("marker", marker))
            root = self._xml(url, what, query)
            items = [self._object_from_xml(container, el) for el in root.iterfind("Blobs/Blob")]
            return items, xmlutil.text(root, "NextMarker")

        return paginate(fetch)

    @staticmethod
    def _object_from_xml(container: str, el: ET.Element) -> Object:
        name_el = el.find("Name")
        name = (name_el.text or "") if name_el is not None else ""
        if name_el is not None and name_el.get("Encoded") == "true":
            name = unquote(name)  # names holding characters XML cannot carry come percent-encoded
        props = el.find("Properties")
        fields = {} if props is None else {child.tag.lower(): child.text or "" for child in props}
        meta_el = el.find("Metadata")
        metadata = {} if meta_el is None else {child.tag.lower(): child.text or "" for child in meta_el}
        return AzureBlobStorageDriver._object(container, name, fields, metadata)

    @staticmethod
    def _object(container: str, name: str, props: Mapping[str, str], metadata: dict[str, str]) -> Object:
        """An object from the properties of a listing entry (lower-case keys) or of a HEAD answer's headers."""
        return Object(
            name=name,
            container=container,
            size=int(props.get("content-length") or 0),
            md5=md5_hex_from_b64(props.get("content-md5")),
            etag=strip_etag(props.get("etag")),
            content_type=props.get("content-type"),
            metadata=metadata,
            modified=parse_time(props.get("last-modified")),
            extra={"blob_type": props.get("x-ms-blob-type") or props.get("blobtype")},
        )

    def get_object(self, container: ContainerRef, name: ObjectRef) -> Object:
        """The object's properties and metadata (one HEAD request); :class:`NotFound` when missing."""
        cname = self.validate_container_name(name_of(container))
        oname = self.validate_object_name(name_of(name))
        resp = self._request("HEAD", self._blob_url(cname, oname), f"get object {oname!r} in container {cname!r}")
        return self._object(cname, oname, resp.headers, _metadata_from_headers(resp.headers))

    def delete_object(self, container: ContainerRef, name: ObjectRef) -> None:
        """Delete the object and any snapshots of it; :class:`NotFound` when it does not exist."""
        cname = self.validate_container_name(name_of(container))
        oname = self.validate_object_name(name_of(name))
        self._request(
            "DELETE",
            self._blob_url(cname, oname),
            f"delete object {oname!r} in container {cname!r}",
            headers={"x-ms-delete-snapshots": "include"},
        )

    def _put_object(self, container: str, name: str, part: Part, content_type: str, metadata: dict[str, str]) -> Object:
        headers = {
            "x-ms-blob-type": "BlockBlob",
            "Content-MD5": b64(part.digest),  # the service refuses the body if it does not match
            "x-ms-blob-content-type": content_type,
            **_metadata_headers(metadata),
        }
        resp = self._request(
            "PUT",
            self._blob_url(container, name),
            f"upload {name!r} to container {container!r}",
            headers=headers,
            body=part.body,
        )
        return _uploaded(container, name, part.size, part.digest, content_type, metadata, resp.headers)

    # --------------------------------------------------------------- multipart
    def _multipart_start(self, container: str, name: str, content_type: str, metadata: dict[str, str]) -> BlockUpload:
        # Nothing to call: blocks are staged against the blob name and committed at the end.
        # A random prefix keeps the block ids of two concurrent uploads of one name apart.
        return BlockUpload(
            container, name, self._blob_url(container, name), content_type, dict(metadata), secrets.token_hex(8)
        )

    def _multipart_part(self, handle: BlockUpload, part: Part) -> str:
        block_id = handle.block_id(part.number)
        self._request(
            "PUT",
            handle.url,
            f"upload part {part.number} of {handle.name!r} to container {handle.container!r}",
            query=[("comp", "block"), ("blockid", block_id)],
            headers={"Content-MD5": b64(part.digest)},
            body=part.body,
        )
        return block_id

    def _multipart_complete(self, handle: BlockUpload, parts: list[str], whole_md5: bytes | None, size: int) -> Object:
        body = (
            '<?xml version="1.0" encoding="utf-8"?>'
            + xmlutil.element("BlockList", [("Latest", block_id) for block_id in parts])
        ).encode("utf-8")
        headers = {
            "Content-Type": "application/xml; charset=utf-8",
            "Content-MD5": b64(hashlib.md5(body, usedforsecurity=False).digest()),
            "x-ms-blob-content-type": handle.content_type,
            **_metadata_headers(handle.metadata),
        }
        if whole_md5 is not None:
            headers["x-ms-blob-content-md5"] = b64(whole_md5)  # stored, then served as Content-MD5
        resp = self._request(
            "PUT",
            handle.url,
            f"commit the parts of {handle.name!r} in container {handle.container!r}",
            query=[("comp", "blocklist")],
            headers=headers,
            body=body,
        )
        return _uploaded(
            handle.container, handle.name, size, whole_md5, handle.content_type, handle.metadata, resp.headers
        )

    def _multipart_abort(self, handle: BlockUpload) -> None:
        """Nothing to do: uncommitted blocks are never visible and Azure discards them
        (after a week, or when the blob is next written). No blob is created before the
        block list is committed, and an existing blob is left as it was."""

    # ---------------------------------------------------------------- download
    def _download(self, container: str, name: str, start: int | None, end: int | None, chunk_size: int) -> Download:
        what = f"object {name!r} in container {container!r}"
        headers: dict[str, str] = {}
        ranged = start is not None or end is not None
        range_md5 = False
        if ranged:
            first = start or 0
            headers["x-ms-range"] = f"bytes={first}-{'' if end is None else end - 1}"
            if end is not None and end - first <= _RANGE_MD5_LIMIT:
                headers["x-ms-range-get-content-md5"] = "true"
                range_md5 = True
        resp = self._request(
            "GET",
            self._blob_url(container, name),
            f"download {what}",
            headers=headers,
            stream=True,
            accept=lambda r: 200 <= r.status_code < 300 or (ranged and r.status_code == 416),
        )
        if resp.status_code == 416:
            # A range that starts at or past the end selects nothing, as a Python slice would.
            resp.close()
            return Download(iter(()), Verifier(what, size=0, provider=self.provider))
        length = resp.headers.get("Content-Length")
        md5 = resp.headers.get("Content-MD5") if not ranged or range_md5 else None
        verifier = Verifier(
            what, size=int(length) if length else None, md5_hex=md5_hex_from_b64(md5), provider=self.provider
        )
        return Download(iter_body(resp, chunk_size, what, self.provider), verifier, resp.close)
