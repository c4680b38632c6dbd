"""The row count of a parquet file from its footer alone (standard library: the commit Lambda imports no pyarrow).

A parquet file ends with ``<FileMetaData> <4-byte little-endian length> PAR1``; FileMetaData is a Thrift struct in
the compact protocol whose field 3 is ``num_rows`` (i64), after ``version`` (1) and ``schema`` (2). The reader
walks the struct's fields, skipping the others whatever their type, and stops at ``num_rows``.
"""

from __future__ import annotations

MAGIC = b"PAR1"
TAIL = 8  # footer length (4 bytes) + magic
NUM_ROWS = 3  # FileMetaData field id

# compact protocol type ids
_STOP, _TRUE, _FALSE, _BYTE, _I16, _I32, _I64, _DOUBLE, _BINARY, _LIST, _SET, _MAP, _STRUCT = range(13)


class FooterError(ValueError):
    """Not a parquet footer (or one without ``num_rows``)."""


def footer_length(tail: bytes) -> int:
    """The FileMetaData length from a file's last 8 (or more) bytes."""
    if len(tail) < TAIL or tail[-4:] != MAGIC:
        raise FooterError("the file does not end with the parquet magic PAR1")
    return int.from_bytes(tail[-8:-4], "little")


def num_rows(metadata: bytes) -> int:
    """``FileMetaData.num_rows`` of a serialized FileMetaData."""
    reader = _Reader(metadata)
    last = 0
    while True:
        field_id, type_ = reader.field_header(last)
        if type_ == _STOP:
            raise FooterError("FileMetaData has no num_rows")
        if field_id == NUM_ROWS and type_ == _I64:
            return reader.zigzag()
        reader.skip(type_)
        last = field_id


def rows_from_tail(tail: bytes) -> int | None:
    """The row count if ``tail`` (the file's last bytes) holds the whole footer, else None (read more)."""
    length = footer_length(tail)
    if length + TAIL > len(tail):
        return None
    return num_rows(tail[len(tail) - TAIL - length : len(tail) - TAIL])


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise FooterError("truncated parquet footer")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def varint(self) -> int:
        shift = result = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def field_header(self, last: int) -> tuple[int, int]:
        b = self.byte()
        type_, delta = b & 0x0F, b >> 4
        if type_ == _STOP:
            return 0, _STOP
        return (last + delta if delta else self.zigzag()), type_

    def skip(self, type_: int) -> None:
        if type_ in (_TRUE, _FALSE):
            return  # a struct field's bool is in its header
        if type_ == _BYTE:
            self.pos += 1
        elif type_ in (_I16, _I32, _I64):
            self.varint()
        elif type_ == _DOUBLE:
            self.pos += 8
        elif type_ == _BINARY:
            length = self.varint()  # read first: ``self.pos += self.varint()`` would add to the stale position
            self.pos += length
        elif type_ in (_LIST, _SET):
            header = self.byte()
            size, elem = header >> 4, header & 0x0F
            if size == 15:
                size = self.varint()
            for _ in range(size):
                self._skip_element(elem)
        elif type_ == _MAP:
            size = self.varint()
            if size:
                kv = self.byte()
                for _ in range(size):
                    self._skip_element(kv >> 4)
                    self._skip_element(kv & 0x0F)
        elif type_ == _STRUCT:
            last = 0
            while True:
                field_id, inner = self.field_header(last)
                if inner == _STOP:
                    return
                self.skip(inner)
                last = field_id
        else:
            raise FooterError(f"unknown thrift compact type {type_}")
        if self.pos > len(self.data):
            raise FooterError("truncated parquet footer")

    def _skip_element(self, type_: int) -> None:
        if type_ in (_TRUE, _FALSE):
            self.pos += 1  # in a collection, a bool is one byte
        else:
            self.skip(type_)
