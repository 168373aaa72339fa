"""Amazon S3 (and S3-compatible services) as a :class:`~driver_core.storage.StorageDriver`.

One class for every region (``region=``), path-style or virtual-hosted
addressing, and any S3-compatible ``endpoint``. Requests are signed with the
project's own SigV4 signer, payload included: the SHA-256 of every body is
signed, so S3 refuses a body that changed on the way (SHA-256 with CPU support
is faster than the MD5 a Content-MD5 would need). Downloads are checked
against the ETag: the MD5 of single-request objects, or the multipart ETag
recomputed from the data.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, ClassVar
from urllib.parse import quote, unquote_plus, urlsplit

import requests

from ...codec import parse_time, strip_etag
from ...errors import (
    ChecksumMismatch,
    Conflict,
    InvalidRequest,
    NotFound,
    ProviderError,
    ValidationError,
    error_for_status,
)
from ...models import Container, Object
from ...profiles import ConnectionOptions
from ...storage import ContainerRef, Download, ObjectRef, StorageDriver, name_of
from ...transfer import MiB, MultipartEtag, Part, Verifier
from ...transport import ErrorInfo, iter_body, paginate
from ...xmlutil import element, parse, text
from . import common

DEFAULT_REGION = "us-east-1"
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_RE = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
_PLAIN_MD5 = re.compile(r"^[0-9a-f]{32}$")
_MULTIPART_ETAG = re.compile(r"^([0-9a-f]{32})-(\d+)$")

CODE_MAP: dict[str, type[ProviderError]] = {
    **common.COMMON_CODES,
    "NoSuchBucket": NotFound,
    "NoSuchKey": NotFound,
    "NoSuchUpload": NotFound,
    "NotFound": NotFound,
    "BucketAlreadyOwnedByYou": Conflict,
    "BucketAlreadyExists": Conflict,
    "BucketNotEmpty": Conflict,
    "OperationAborted": Conflict,
    "InvalidBucketName": InvalidRequest,
    "InvalidArgument": InvalidRequest,
    "InvalidRange": InvalidRequest,
    "EntityTooSmall": InvalidRequest,
    "BadDigest": InvalidRequest,
    "InvalidDigest": InvalidRequest,
}
_HEAD_CODES = {403: "AccessDenied", 404: "NotFound", 412: "PreconditionFailed", 416: "InvalidRange"}


def _error_parser(resp: requests.Response) -> ErrorInfo:
    """AWS's XML error, plus what S3 alone says: the bucket's region, and HEAD answers without a body."""
    info = common.error_info(resp)
    code, request_id = info.code, info.request_id
    message: str | None = info.message if info.code or resp.content else None
    if resp.status_code in (301, 307, 400) and resp.headers.get("x-amz-bucket-region"):
        region = resp.headers["x-amz-bucket-region"]
        message = f"the bucket is in region {region}; connect with region={region!r}"
        code = code or "PermanentRedirect"
    code = code or _HEAD_CODES.get(resp.status_code)
    return ErrorInfo(code, message or f"HTTP {resp.status_code} {resp.reason}", request_id)


class _MultipartEtagVerifier(Verifier):
    """Checks a multipart object against its ETag, recomputed from the data as it arrives."""

    def __init__(self, what: str, *, size: int, etag: str, part_size: int, provider: str) -> None:
        super().__init__(what, size=size, provider=provider)
        self.etag = etag
        self.parts = MultipartEtag(part_size)

    def update(self, data: bytes) -> None:
        super().update(data)
        self.parts.update(data)

    def verify(self) -> None:
        super().verify()
        got = self.parts.etag()
        if got != self.etag:
            raise ChecksumMismatch(
                f"{self.what}: multipart checksum {got} does not match ETag {self.etag}", provider=self.provider
            )


class S3StorageDriver(StorageDriver):
    """S3 object storage. Options: ``addressing`` (auto, path, virtual), ``part_size``,
    ``multipart_threshold``, ``concurrency``, ``page_size``, ``retries``."""

    provider: ClassVar[str] = "aws"
    min_part_size: ClassVar[int] = 5 * MiB
    max_part_size: ClassVar[int] = 5 * 1024 * MiB
    max_parts: ClassVar[int] = 10_000
    default_part_size: ClassVar[int] = 16 * MiB
    part_digest: ClassVar[str | None] = "sha256"  # signed into each request, verified by S3
    needs_whole_md5: ClassVar[bool] = False

    def __init__(self, options: ConnectionOptions) -> None:
        super().__init__(options)
        self.region = options.region or DEFAULT_REGION
        extra = options.options
        parts = urlsplit(
            common.endpoint_url(options.endpoint or f"https://s3.{self.region}.amazonaws.com", self.provider)
        )
        self.scheme = parts.scheme
        self.netloc = parts.netloc
        self.base_path = parts.path.rstrip("/")
        self.custom_endpoint = options.endpoint is not None
        self.addressing = extra.get("addressing", "auto")
        if self.addressing not in ("auto", "path", "virtual"):
            raise ValidationError("addressing must be auto, path or virtual", provider=self.provider)
        signer = common.signer_for(options, self.provider, self.region, "s3", what="S3", anonymous=True)
        self.transport = self._make_transport(
            signer=signer, error_parser=_error_parser, code_map=CODE_MAP, pool_size=max(16, 2 * self.concurrency)
        )

    # ---------------------------------------------------------------- helpers
    def validate_container_name(self, name: str) -> str:
        super().validate_container_name(name)
        if not _BUCKET_RE.match(name) or ".." in name or _IP_RE.match(name):
            raise ValidationError(
                f"container name {name!r} is not a valid S3 bucket name: use 3-63 lowercase letters, "
                "digits, '.' and '-', starting and ending with a letter or digit",
                provider=self.provider,
            )
        return name

    def _url(self, bucket: str | None = None, key: str | None = None) -> str:
        path = "/" + quote(key, safe="/~") if key is not None else "/"
        if bucket is None:
            return f"{self.scheme}://{self.netloc}{self.base_path}/"
        virtual = self.addressing == "virtual" or (
            self.addressing == "auto" and not self.custom_endpoint and "." not in bucket
        )
        if virtual:
            return f"{self.scheme}://{bucket}.{self.netloc}{self.base_path}{path}"
        return f"{self.scheme}://{self.netloc}{self.base_path}/{bucket}{path if key is not None else ''}"

    def _request(self, method: str, bucket: str | None = None, key: str | None = None, **kw: Any) -> requests.Response:
        return self.transport.request(method, self._url(bucket, key), **kw)

    def _object_from_headers(self, bucket: str, key: str, headers: Any) -> Object:
        etag = strip_etag(headers.get("ETag"))
        encrypted = (
            headers.get("x-amz-server-side-encryption") == "aws:kms"
            or "x-amz-server-side-encryption-customer-algorithm" in headers
        )
        return Object(
            name=key,
            container=bucket,
            size=int(headers.get("Content-Length", 0)),
            md5=etag if etag and _PLAIN_MD5.match(etag) and not encrypted else None,
            etag=etag,
            content_type=headers.get("Content-Type"),
            metadata={k[11:].lower(): v for k, v in headers.items() if k.lower().startswith("x-amz-meta-")},
            modified=parse_time(headers.get("Last-Modified")),
            extra={
                k: headers[h]
                for k, h in (
                    ("storage_class", "x-amz-storage-class"),
                    ("version_id", "x-amz-version-id"),
                    ("encryption", "x-amz-server-side-encryption"),
                )
                if h in headers
            },
        )

    # ------------------------------------------------------------- containers
    def iterate_containers(self) -> Iterator[Container]:
        def page(token: str | None) -> tuple[list[Container], str | None]:
            query = [("continuation-token", token)] if token else []
            root = parse(self._request("GET", query=query).content, self.provider)
            found = [
                Container(
                    name=text(b, "Name") or "",
                    created=parse_time(text(b, "CreationDate")),
                    extra={"region": text(b, "BucketRegion")} if text(b, "BucketRegion") else {},
                )
                for b in root.iterfind("Buckets/Bucket")
            ]
            return found, text(root, "ContinuationToken")

        return paginate(page)

    def get_container(self, name: ContainerRef) -> Container:
        bucket = self.validate_container_name(name_of(name))
        try:
            resp = self._request("HEAD", bucket)
        except NotFound as exc:
            raise exc.reworded(f"container {bucket!r} does not exist") from None
        region = resp.headers.get("x-amz-bucket-region")
        return Container(name=bucket, extra={"region": region} if region else {})

    def create_container(self, name: str) -> Container:
        bucket = self.validate_container_name(name)
        if self.region == DEFAULT_REGION:
            # us-east-1 answers 200 when you re-create your own bucket; keep the contract's Conflict.
            try:
                self._request("HEAD", bucket)
            except NotFound:
                pass
            else:
                raise Conflict(f"container {bucket!r} already exists", provider=self.provider)
            body = b""
        else:
            body = (
                '<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                f"<LocationConstraint>{self.region}</LocationConstraint></CreateBucketConfiguration>"
            ).encode()
        self._request("PUT", bucket, body=body)
        return Container(name=bucket, extra={"region": self.region})

    def _delete_container(self, name: str) -> None:
        try:
            self._request("DELETE", name)
        except Conflict as exc:
            hint = "delete its objects first or pass force=True"
            raise exc.reworded(f"container {name!r} is not empty; {hint}") from None
        except NotFound as exc:
            raise exc.reworded(f"container {name!r} does not exist") from None

    # ---------------------------------------------------------------- objects
    def _iterate_objects(self, container: str, prefix: str | None, page_size: int) -> Iterator[Object]:
        def page(token: str | None) -> tuple[list[Object], str | None]:
            query = [("list-type", "2"), ("encoding-type", "url"), ("max-keys", str(page_size))]
            if prefix:
                query.append(("prefix", prefix))
            if token:
                query.append(("continuation-token", token))
            root = parse(self._request("GET", container, query=query).content, self.provider)
            found = []
            for c in root.iterfind("Contents"):
                etag = strip_etag(text(c, "ETag"))
                found.append(
                    Object(
                        name=unquote_plus(text(c, "Key") or ""),
                        container=container,
                        size=int(text(c, "Size", "0") or 0),
                        md5=etag if etag and _PLAIN_MD5.match(etag) else None,
                        etag=etag,
                        modified=parse_time(text(c, "LastModified")),
                        extra={"storage_class": text(c, "StorageClass")},
                    )
                )
            truncated = text(root, "IsTruncated") == "true"
            return found, text(root, "NextContinuationToken") if truncated else None

        return paginate(page)

    def get_object(self, container: ContainerRef, name: ObjectRef) -> Object:
        bucket = self.validate_container_name(name_of(container))
        key = self.validate_object_name(name_of(name))
        try:
            resp = self._request("HEAD", bucket, key)
        except NotFound as exc:
            raise exc.reworded(f"object {key!r} does not exist in container {bucket!r}") from None
        return self._object_from_headers(bucket, key, resp.headers)

    def delete_object(self, container: ContainerRef, name: ObjectRef) -> None:
        """Delete an object; :class:`NotFound` when it does not exist (S3 itself would say nothing)."""
        obj = self.get_object(container, name)
        self._request("DELETE", obj.container, obj.name)

    @staticmethod
    def _headers(content_type: str, metadata: dict[str, str]) -> dict[str, str]:
        return {"Content-Type": content_type, **{f"x-amz-meta-{k}": v for k, v in metadata.items()}}

    def _put_object(self, container: str, name: str, part: Part, content_type: str, metadata: dict[str, str]) -> Object:
        headers = self._headers(content_type, metadata)
        # The body's SHA-256 is signed: S3 refuses a body that does not match (XAmzContentSHA256Mismatch).
        headers["x-amz-content-sha256"] = part.digest.hex()
        resp = self._request("PUT", container, name, headers=headers, body=part.body)
        obj = self._object_from_headers(container, name, resp.headers)
        obj.size, obj.content_type, obj.metadata = part.size, content_type, metadata
        return obj

    def _multipart_start(self, container: str, name: str, content_type: str, metadata: dict[str, str]) -> Any:
        resp = self._request(
            "POST", container, name, query=[("uploads", "")], headers=self._headers(content_type, metadata)
        )
        upload_id = text(parse(resp.content, self.provider), "UploadId")
        if not upload_id:
            raise ProviderError("S3 did not return an UploadId for the multipart upload", provider=self.provider)
        return {
            "container": container,
            "name": name,
            "upload_id": upload_id,
            "content_type": content_type,
            "metadata": metadata,
        }

    def _multipart_part(self, handle: Any, part: Part) -> Any:
        query = [("partNumber", str(part.number)), ("uploadId", handle["upload_id"])]
        headers = {"x-amz-content-sha256": part.digest.hex()}
        resp = self._request("PUT", handle["container"], handle["name"], query=query, headers=headers, body=part.body)
        etag = strip_etag(resp.headers.get("ETag"))
        if not etag:
            raise ProviderError(f"S3 returned no ETag for part {part.number}", provider=self.provider)
        return (part.number, etag, part.size)

    def _multipart_complete(self, handle: Any, parts: list[Any], whole_md5: bytes | None, size: int) -> Object:
        body = (
            "<CompleteMultipartUpload>"
            + "".join(element("Part", [("PartNumber", str(n)), ("ETag", f'"{etag}"')]) for n, etag, _ in parts)
            + "</CompleteMultipartUpload>"
        )
        resp = self._request(
            "POST",
            handle["container"],
            handle["name"],
            query=[("uploadId", handle["upload_id"])],
            body=body.encode(),
            headers={"Content-Type": "application/xml"},
        )
        root = parse(resp.content, self.provider)
        if root.tag == "Error":  # S3 may answer 200 and put the error in the body
            code = text(root, "Code")
            raise error_for_status(
                500 if code == "InternalError" else 400,
                text(root, "Message") or "CompleteMultipartUpload failed",
                provider=self.provider,
                code=code,
                request_id=text(root, "RequestId"),
                code_map=CODE_MAP,
            )
        etag = strip_etag(text(root, "ETag"))
        return Object(
            name=handle["name"],
            container=handle["container"],
            size=size,
            etag=etag,
            content_type=handle["content_type"],
            metadata=handle["metadata"],
            extra={"parts": len(parts)},
        )

    def _multipart_abort(self, handle: Any) -> None:
        try:
            self._request("DELETE", handle["container"], handle["name"], query=[("uploadId", handle["upload_id"])])
        except NotFound:
            pass

    def _download(self, container: str, name: str, start: int | None, end: int | None, chunk_size: int) -> Download:
        headers: dict[str, str] = {}
        ranged = start is not None or end is not None
        if ranged:
            headers["Range"] = f"bytes={start or 0}-{'' if end is None else end - 1}"
        what = f"object {name!r} in container {container!r}"
        try:
            resp = self._request(
                "GET",
                container,
                name,
                headers=headers,
                stream=True,
                accept=lambda r: 200 <= r.status_code < 300 or (ranged and r.status_code == 416),
            )
        except NotFound as exc:
            raise exc.reworded(f"{what} does not exist") from None
        if resp.status_code == 416:
            # A range that starts at or past the end selects nothing, as a Python slice would.
            resp.close()
            return Download(iter(()), Verifier(what, size=0, provider=self.provider))
        size = int(resp.headers["Content-Length"]) if "Content-Length" in resp.headers else None
        etag = strip_etag(resp.headers.get("ETag")) or ""
        encrypted = (
            "x-amz-server-side-encryption-customer-algorithm" in resp.headers
            or resp.headers.get("x-amz-server-side-encryption") == "aws:kms"
        )
        verifier: Verifier
        if ranged or encrypted:
            verifier = Verifier(what, size=size, provider=self.provider)
        elif _PLAIN_MD5.match(etag):
            verifier = Verifier(what, size=size, md5_hex=etag, provider=self.provider)
        elif _MULTIPART_ETAG.match(etag) and size is not None:
            part_size = self._first_part_size(container, name, etag)
            verifier = (
                _MultipartEtagVerifier(what, size=size, etag=etag, part_size=part_size, provider=self.provider)
                if part_size
                else Verifier(what, size=size, provider=self.provider)
            )
        else:
            verifier = Verifier(what, size=size, provider=self.provider)
        return Download(iter_body(resp, chunk_size, what, self.provider), verifier, resp.close)

    def _first_part_size(self, container: str, name: str, etag: str) -> int | None:
        """The part size of a multipart object (every part but the last has it), from HEAD ?partNumber=1.

        Should the object be replaced between the GET and this HEAD, verification
        fails loudly; it can never pass wrongly.
        """
        try:
            resp = self._request("HEAD", container, name, query=[("partNumber", "1")])
        except (InvalidRequest, NotFound):
            return None
        return int(resp.headers.get("Content-Length", 0)) or None
