"""The ``candidate-documents`` container of ``DocumentsStorage``: blocks, commits, reads, quarantine.

Only this module talks to the Storage SDK for documents; azure-core errors are translated here
(DESIGN.md): a service that cannot be reached, times out, throttles (408, 429, 5xx) or refuses
our credential (401, 403: a deployment fault, not a document's) is
:class:`~shared.errors.DependencyUnavailable`, so the flows back off; any other answer is a bug
and propagates.

Uploads are blocks (``stage_block``) committed at the end (``commit_block_list``): nothing is
visible under a name until its commit, so a transfer that is refused half-way (size, sha256)
leaves no blob; its staged blocks are discarded by the service (uncommitted blocks expire
after a week). Block ids are fixed-length, and carry a random token per transfer attempt, so
two attempts that overlap (a redelivered message beside a slow first one) never commit each
other's blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import secrets
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.storage.blob import BlobBlock, ContentSettings
from azure.storage.blob.aio import BlobServiceClient, ContainerClient

from shared.documents.naming import quarantine_name
from shared.errors import DependencyUnavailable

_UNAVAILABLE_STATUSES = frozenset({401, 403, 408, 429}) | frozenset(range(500, 600))
#: Most blocks one blob may have (the service's limit on committed blocks).
MAX_BLOCKS = 50_000


@contextlib.contextmanager
def translated(action: str) -> Iterator[None]:
    """Turn azure-core's errors into ours (see the module docstring)."""
    try:
        yield
    except HttpResponseError as exc:
        if exc.status_code is None or exc.status_code in _UNAVAILABLE_STATUSES:
            raise DependencyUnavailable(
                f"Blob Storage {action}: {exc.status_code or type(exc).__name__}"
            ) from exc
        raise
    except AzureError as exc:
        raise DependencyUnavailable(f"Blob Storage {action}: {type(exc).__name__}") from exc
    except (TimeoutError, OSError) as exc:
        raise DependencyUnavailable(f"Blob Storage {action}: {type(exc).__name__}") from exc


class BlockReader(io.RawIOBase):
    """A read-only, seekable stream over one block's buffer, without copying it (the SDK reads
    it to compute the block's MD5, seeks back, and reads it again to send it)."""

    def __init__(self, data: bytes | memoryview) -> None:
        super().__init__()
        self._view = memoryview(data).cast("B")
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        target = memoryview(buffer).cast("B")
        count = min(len(target), len(self._view) - self._position)
        target[:count] = self._view[self._position : self._position + count]
        self._position += count
        return count

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: len(self._view)}[whence]
        self._position = max(0, min(base + offset, len(self._view)))
        return self._position

    def tell(self) -> int:
        return self._position


@dataclass(frozen=True, slots=True)
class CommittedBlob:
    name: str
    size: int
    etag: str
    metadata: Mapping[str, str]
    content_md5: bytes | None
    content_type: str = "application/octet-stream"
    content_disposition: str = ""


def block_id(token: str, index: int) -> str:
    """A fixed-length block id (the service wants every id of a blob the same length; the SDK
    base64-encodes it)."""
    return f"{token}:{index:06d}"


class DocumentBlobs:
    def __init__(self, service: BlobServiceClient, container: str) -> None:
        self._container: ContainerClient = service.get_container_client(container)
        self._ensured = False

    @property
    def container_name(self) -> str:
        return str(self._container.container_name)

    async def ensure_container(self) -> None:
        """Create the container once per worker if it is missing (in Azure the deployment does)."""
        if self._ensured:
            return
        with translated("create container"), contextlib.suppress(ResourceExistsError):
            await self._container.create_container()
        self._ensured = True

    async def committed(self, name: str) -> CommittedBlob | None:
        """The committed blob under ``name``, or None (staged, uncommitted blocks do not count)."""
        with translated("get properties"):
            try:
                properties = await self._container.get_blob_client(name).get_blob_properties()
            except ResourceNotFoundError:
                return None
        settings = properties.content_settings
        return CommittedBlob(
            name=name,
            size=int(properties.size),
            etag=str(properties.etag),
            metadata=dict(properties.metadata or {}),
            content_md5=bytes(settings.content_md5) if settings.content_md5 else None,
            content_type=str(settings.content_type or "application/octet-stream"),
            content_disposition=str(settings.content_disposition or ""),
        )

    async def stage(self, name: str, block: str, data: bytes | memoryview) -> None:
        with translated("stage block"):
            # validate_content: the service checks each block's MD5 on arrival (integrity on the
            # wire); the whole file's MD5 is ours to set at commit. A stream over the block, not
            # bytes: aiohttp sends it in pieces instead of one large write (it warns about raw
            # bodies above 1 MiB), and no copy of the block is made.
            await self._container.get_blob_client(name).stage_block(
                block, BlockReader(data), length=len(data), validate_content=True
            )

    async def commit(
        self,
        name: str,
        blocks: list[str],
        *,
        content_type: str,
        content_disposition: str,
        content_md5: bytes,
        metadata: Mapping[str, str],
    ) -> None:
        """Commit ``blocks`` as the blob's content (an empty list makes an empty blob)."""
        await self.ensure_container()
        with translated("commit block list"):
            await self._container.get_blob_client(name).commit_block_list(
                [BlobBlock(block_id=b) for b in blocks],
                content_settings=ContentSettings(
                    content_type=content_type,
                    content_disposition=content_disposition or None,
                    content_md5=bytearray(content_md5) if content_md5 else None,
                ),
                metadata=dict(metadata),
            )

    async def read(self, blob: CommittedBlob, *, chunk_size: int) -> AsyncIterator[bytes]:
        """The blob's bytes in ranges of ``chunk_size``, the next range fetched while the caller
        works on this one; the blob must not change meanwhile (``If-Match`` its etag)."""
        client = self._container.get_blob_client(blob.name)

        async def fetch(offset: int) -> bytes:
            with translated("read"):
                downloader = await client.download_blob(
                    offset=offset,
                    length=min(chunk_size, blob.size - offset),
                    etag=blob.etag,
                    match_condition=MatchConditions.IfNotModified,
                )
                return bytes(await downloader.readall())

        offsets = list(range(0, blob.size, chunk_size))
        pending: asyncio.Task[bytes] | None = asyncio.create_task(fetch(0)) if offsets else None
        try:
            for index in range(len(offsets)):
                assert pending is not None
                data = await pending
                pending = asyncio.create_task(fetch(offsets[index + 1])) if index + 1 < len(offsets) else None
                yield data
        finally:
            if pending is not None:
                pending.cancel()
                with contextlib.suppress(BaseException):
                    await pending

    async def delete(self, name: str) -> None:
        with translated("delete"), contextlib.suppress(ResourceNotFoundError):
            await self._container.get_blob_client(name).delete_blob(delete_snapshots="include")

    async def quarantine(self, name: str, *, chunk_size: int = 4 * 1024 * 1024) -> str:
        """Move ``name`` under ``quarantine/`` and return the new name.

        The bytes are copied by this worker (read in ranges, staged, committed with the same
        headers and metadata), not by the service's Copy Blob: that one needs a SAS or Shared Key
        for its source, and the documents account accepts only Entra ID. Idempotent: a quarantine
        copy already committed is kept, a source already deleted is fine.
        """
        target = quarantine_name(name)
        if target == name:
            return name
        if await self.committed(target) is None:
            source = await self.committed(name)
            if source is None:
                return target  # neither: nothing to move (a missing blob is its own reason)
            token = new_transfer_token()
            blocks: list[str] = []
            async for chunk in self.read(source, chunk_size=chunk_size):
                blocks.append(block_id(token, len(blocks)))
                await self.stage(target, blocks[-1], chunk)
            await self.commit(
                target,
                blocks,
                content_type=source.content_type,
                content_disposition=source.content_disposition,
                content_md5=source.content_md5 or b"",
                metadata={**source.metadata, "quarantined": "true"},
            )
        await self.delete(name)
        return target


def new_transfer_token() -> str:
    """A random token for one transfer attempt's block ids (12 hex characters)."""
    return secrets.token_hex(6)
