"""The pure parts of read routing (db/nodes.py): sealed WAL positions and replica lag."""

from db.nodes import format_lsn, parse_lsn, seal, seconds_behind, unseal

KEY = b"k" * 32


def test_positions_read_and_print_as_postgresql_does() -> None:
    assert parse_lsn("16/B374D848") == (0x16 << 32) + 0xB374D848
    assert format_lsn(parse_lsn("16/B374D848")) == "16/B374D848"
    assert format_lsn(0) == "0/0"


def test_a_sealed_position_opens_only_with_its_key_and_unchanged() -> None:
    position = parse_lsn("0/4001E78")
    sealed = seal(position, KEY)
    assert unseal(sealed, KEY) == position
    assert unseal(sealed, b"x" * 32) is None
    value, _, mac = sealed.partition(".")
    assert unseal(f"{int(value, 16) + 1:x}.{mac}", KEY) is None  # a later position, forged
    for broken in (None, "", "4001e78", "zz.zz", "."):
        assert unseal(broken, KEY) is None


def test_lag_is_the_age_of_the_oldest_sample_not_replayed() -> None:
    samples = [(10.0, 100), (11.0, 200), (12.0, 300)]
    assert seconds_behind(samples, 300, now=20.0) == 0.0  # caught up, however idle
    assert seconds_behind(samples, 250, now=20.0) == 8.0
    assert seconds_behind(samples, 50, now=20.0) == 10.0
    assert seconds_behind([], 0, now=20.0) == 0.0
