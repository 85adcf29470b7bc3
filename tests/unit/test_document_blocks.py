"""Re-cutting a download into blocks, and the stream the SDK reads a block through."""

from __future__ import annotations

import io

import pytest

from shared.documents.blobs import BlockReader
from shared.documents.transfer import _blocks


async def chunks_of(data: bytes, size: int):
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.parametrize(
    ("total", "chunk", "block", "sizes"),
    [
        (0, 7, 4, []),
        (3, 7, 4, [3]),
        (8, 3, 4, [4, 4]),
        (10, 3, 4, [4, 4, 2]),
        (10, 100, 4, [4, 4, 2]),
        (4, 1, 4, [4]),
    ],
)
async def test_blocks_are_cut_at_the_block_size_whatever_the_chunks(total, chunk, block, sizes):
    data = bytes(range(total))
    blocks = [bytes(b) async for b in _blocks(chunks_of(data, chunk), block, total=total)]
    assert [len(b) for b in blocks] == sizes
    assert b"".join(blocks) == data


async def test_a_body_shorter_or_longer_than_expected_keeps_every_byte_for_the_size_check():
    data = bytes(range(10))
    shorter = [bytes(b) async for b in _blocks(chunks_of(data[:6], 4), 4, total=10)]
    assert b"".join(shorter) == data[:6]
    longer = [bytes(b) async for b in _blocks(chunks_of(data, 3), 4, total=5)]
    assert b"".join(longer) == data


def test_the_block_reader_reads_seeks_and_rereads_without_copying_the_block():
    block = bytearray(b"0123456789")
    reader = BlockReader(memoryview(block))
    assert reader.read(4) == b"0123"
    assert reader.tell() == 4
    assert reader.read() == b"456789"
    assert reader.read(5) == b""
    assert reader.seek(0) == 0
    assert reader.read() == b"0123456789"
    assert reader.seek(-3, io.SEEK_END) == 7
    assert reader.read() == b"789"
    assert reader.seekable()
