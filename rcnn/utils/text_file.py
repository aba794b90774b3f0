"""Reading a text file the project's formats define as UTF-8 (label.txt, submission files)."""


class NotUTF8(ValueError):
    """Bytes that are not UTF-8; ``line`` (1-based) and ``byte`` say where, for the caller's message."""

    def __init__(self, line, byte):
        super().__init__('not UTF-8 text (byte 0x%02x)' % byte)
        self.line, self.byte = line, byte


def read_utf8(path, allow_bom=False):
    """The text of a UTF-8 file (a leading byte-order mark dropped when ``allow_bom``).

    :raises NotUTF8: naming the line of the first byte that is not UTF-8
    :raises OSError: when the file cannot be read
    """
    with open(path, 'rb') as f:
        data = f.read()
    try:
        return data.decode('utf-8-sig' if allow_bom else 'utf-8')
    except UnicodeDecodeError as err:
        raise NotUTF8(data[:err.start].count(b'\n') + 1, data[err.start]) from None
