"""APDUs, TLV, padding and secure messaging: the byte-level layer under the card emulators."""

from __future__ import annotations

import secrets

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nikgate.card import apdu, tlv
from nikgate.card.apdu import ApduFormatError, CommandAPDU, ResponseAPDU
from nikgate.card.crypto import pad, unpad
from nikgate.card.sm import SmChannel, SmError


@pytest.mark.parametrize("cmd, raw", [
    (CommandAPDU(0x00, 0xA4, 0x00, 0x0C), "00A4000C"),                          # case 1
    (CommandAPDU(0x00, 0x84, 0, 0, le=8), "0084000008"),                        # case 2
    (CommandAPDU(0x00, 0xB0, 0, 0, le=256), "00B0000000"),                      # Le 256 = 00
    (CommandAPDU(0x00, 0xA4, 0, 0x0C, b"\x7f\x0a"), "00A4000C027F0A"),         # case 3
    (CommandAPDU(0x00, 0xA4, 2, 4, b"\x6f\xf1", 256), "00A4020402 6FF1 00"),    # case 4
    (CommandAPDU(0x00, 0xB0, 0, 0, le=1000), "00B0000000 03E8"),                # 2 extended
    (CommandAPDU(0x00, 0xB0, 0, 0, le=65536), "00B0000000 0000"),
    (CommandAPDU(0x80, 0xA4, 0, 0, b"\x01" * 300), "80A40000 00012C" + "01" * 300),
    (CommandAPDU(0x80, 0xA4, 0, 0, b"\x01" * 300, 65536),
     "80A40000 00012C" + "01" * 300 + "0000"),                                   # 4 extended
])
def test_command_apdu_encodings(cmd, raw):
    raw_bytes = bytes.fromhex(raw.replace(" ", ""))
    assert cmd.to_bytes() == raw_bytes
    assert CommandAPDU.parse(raw_bytes) == cmd


@given(cla=st.integers(0, 255), ins=st.integers(0, 255), p1=st.integers(0, 255),
       p2=st.integers(0, 255), data=st.binary(max_size=400),
       le=st.one_of(st.just(0), st.integers(1, 65536)))
def test_command_apdu_round_trip(cla, ins, p1, p2, data, le):
    cmd = CommandAPDU(cla, ins, p1, p2, data, le)
    assert CommandAPDU.parse(cmd.to_bytes()) == cmd


@pytest.mark.parametrize("raw", ["00A400", "00A4000C05 7F0A", "00A4000C02 7F0A 00 00",
                                 "00B00000 00 00", "00B00000 0000 05 0102"])
def test_malformed_command_apdus_are_refused(raw):
    with pytest.raises(ApduFormatError):
        CommandAPDU.parse(bytes.fromhex(raw.replace(" ", "")))


def test_response_apdu_and_status_words():
    resp = ResponseAPDU.parse(bytes.fromhex("0102 9000"))
    assert resp.data == b"\x01\x02" and resp.ok and resp.sw1 == 0x90
    assert ResponseAPDU.parse(b"\x69\x82").sw == apdu.SW_SECURITY_STATUS
    assert apdu.sw_tries_left(3) == 0x63C3
    assert apdu.describe_sw(0x63C2) == "63C2 verification failed, 2 tries left"
    assert apdu.describe_sw(0x6A82) == "6A82 file or application not found"
    with pytest.raises(ApduFormatError):
        ResponseAPDU.parse(b"\x90")


@given(st.lists(st.tuples(st.sampled_from([0x5A, 0x87, 0x5F20, 0x5F2F, 0x7F61, 0x53]),
                          st.binary(max_size=600)), max_size=6))
def test_tlv_round_trip(items):
    encoded = b"".join(tlv.encode(t, v) for t, v in items)
    assert list(tlv.iter_tlv(encoded)) == items


@pytest.mark.parametrize("raw", ["5A05 0102", "5F", "5A83 000001 00", "5A"])
def test_tlv_rejects_malformed_input(raw):
    with pytest.raises(tlv.TlvError):
        list(tlv.iter_tlv(bytes.fromhex(raw.replace(" ", ""))))


@pytest.mark.parametrize("tag", [0x7F, 0x1F, 0x5A5A, 0x10000])
def test_tlv_refuses_tags_it_could_not_read_back(tag):
    with pytest.raises(tlv.TlvError):
        tlv.encode(tag, b"")


@given(st.binary(max_size=100))
def test_padding_round_trip(data):
    padded = pad(data)
    assert len(padded) % 16 == 0 and len(padded) > len(data)
    assert unpad(padded) == data


def _pair() -> tuple[SmChannel, SmChannel]:
    enc, mac, ssc = secrets.token_bytes(16), secrets.token_bytes(16), 12345
    return SmChannel(enc, mac, ssc), SmChannel(enc, mac, ssc)


@pytest.mark.parametrize("cmd", [
    CommandAPDU(0x00, 0xA4, 0x02, 0x04, b"\x6f\xf1", 256),
    CommandAPDU(0x00, 0xB0, 0x01, 0x80, le=128),
    CommandAPDU(0x00, 0xB0, 0x00, 0x00, le=1000),
    CommandAPDU(0x00, 0x22, 0x41, 0xA4, b"\x80\x01\x02"),
    CommandAPDU(0x00, 0x44, 0x00, 0x00),
])
def test_secure_messaging_round_trip(cmd):
    host, card = _pair()
    protected = host.protect_command(cmd)
    assert protected.cla == 0x0C and cmd.data not in protected.data or not cmd.data
    assert card.unprotect_command(protected) == cmd
    reply = ResponseAPDU(b"biodata" * 10, apdu.SW_OK)
    protected_reply = card.protect_response(reply)
    assert b"biodata" not in protected_reply.data
    assert host.unprotect_response(protected_reply) == reply
    assert host.ssc == card.ssc == 12345 + 2


def test_secure_messaging_detects_tampering_and_replay():
    host, card = _pair()
    protected = host.protect_command(CommandAPDU(0x00, 0xB0, 0, 0, le=16))
    flipped = bytearray(protected.data)
    flipped[3] ^= 1
    with pytest.raises(SmError):
        card.unprotect_command(CommandAPDU(0x0C, 0xB0, 0, 0, bytes(flipped), 256))
    # A changed header (another offset) under the same MAC fails too.
    host, card = _pair()
    protected = host.protect_command(CommandAPDU(0x00, 0xB0, 0, 0, le=16))
    with pytest.raises(SmError):
        card.unprotect_command(CommandAPDU(0x0C, 0xB0, 0, 0x80, protected.data, 256))
    # Replaying an answer: the SSC has moved on.
    host, card = _pair()
    card.unprotect_command(host.protect_command(CommandAPDU(0x00, 0xB0, 0, 0, le=4)))
    answer = card.protect_response(ResponseAPDU(b"abcd", apdu.SW_OK))
    host.unprotect_response(answer)
    card.unprotect_command(host.protect_command(CommandAPDU(0x00, 0xB0, 0, 4, le=4)))
    card.protect_response(ResponseAPDU(b"efgh", apdu.SW_OK))
    with pytest.raises(SmError):
        host.unprotect_response(answer)


def test_secure_messaging_refuses_a_plain_status_and_a_mismatched_trailer():
    host, card = _pair()
    with pytest.raises(SmError):
        host.unprotect_response(ResponseAPDU.status(apdu.SW_SM_INCORRECT))
    host, card = _pair()
    card.unprotect_command(host.protect_command(CommandAPDU(0x00, 0xB0, 0, 0, le=4)))
    answer = card.protect_response(ResponseAPDU(b"", apdu.SW_FILE_NOT_FOUND))
    with pytest.raises(SmError):
        host.unprotect_response(ResponseAPDU(answer.data, apdu.SW_OK))
