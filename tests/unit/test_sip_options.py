"""The SIP OPTIONS probe codec (drivers/sip/edge/options.py): the request it builds, the
responses it reads, and which of them answer it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from base.errors import ProtocolError
from drivers.sip.edge.options import OptionsProbe, Response, parse_response

PROBE = OptionsProbe(
    "127.0.0.1", 5060, "127.0.0.1", 40000, call_id="c0ffee", branch="z9hG4bKabc", tag="t1"
)

tokens = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.-_!~*'+", min_size=1, max_size=24)
reasons = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30).map(
    str.strip
)


def reply(
    status: int,
    *,
    call_id: str = "c0ffee",
    branch: str = "z9hG4bKabc",
    reason: str = "OK",
    via_name: str = "Via",
    call_id_name: str = "Call-ID",
    eol: str = "\r\n",
) -> bytes:
    lines = [
        f"SIP/2.0 {status} {reason}",
        f"{via_name}: SIP/2.0/UDP 127.0.0.1:40000;branch={branch};rport=40000;received=127.0.0.1",
        "From: <sip:supervisor@127.0.0.1>;tag=t1",
        "To: <sip:127.0.0.1:5060>;tag=k1",
        f"{call_id_name}: {call_id}",
        "CSeq: 1 OPTIONS",
        "Content-Length: 0",
    ]
    return (eol.join(lines) + eol + eol).encode()


def test_the_request_is_an_options_with_the_probes_ids() -> None:
    text = PROBE.request().decode()
    head, _, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    assert lines[0] == "OPTIONS sip:127.0.0.1:5060 SIP/2.0"
    assert "Via: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bKabc;rport" in lines
    assert "Call-ID: c0ffee" in lines
    assert "CSeq: 1 OPTIONS" in lines
    assert "From: <sip:supervisor@127.0.0.1>;tag=t1" in lines
    assert "Content-Length: 0" in lines and body == ""


def test_an_ipv6_target_is_bracketed() -> None:
    probe = OptionsProbe("::1", 5060, "::1", 40000, call_id="c", branch="z9hG4bKb", tag="t")
    text = probe.request().decode()
    assert text.startswith("OPTIONS sip:[::1]:5060 SIP/2.0\r\n")
    assert "Via: SIP/2.0/UDP [::1]:40000;branch=z9hG4bKb;rport\r\n" in text


def test_new_probes_get_fresh_ids_and_an_rfc3261_branch() -> None:
    a, b = (OptionsProbe.new("127.0.0.1", 5060, "127.0.0.1", 40000) for _ in range(2))
    assert a.call_id != b.call_id and a.branch != b.branch
    assert a.branch.startswith("z9hG4bK")


def test_a_final_response_to_the_probe_gives_its_status() -> None:
    assert PROBE.answer(reply(200)) == 200
    assert PROBE.answer(reply(404, reason="Not Found")) == 404


def test_a_provisional_response_is_not_the_answer() -> None:
    assert PROBE.answer(reply(100, reason="Trying")) is None


def test_another_transactions_response_is_not_the_answer() -> None:
    assert PROBE.answer(reply(200, call_id="someone-else")) is None
    assert PROBE.answer(reply(200, branch="z9hG4bKother")) is None
    # a Call-ID that merely contains ours is another Call-ID
    assert PROBE.answer(reply(200, call_id="xc0ffeex")) is None


def test_compact_header_names_and_bare_newlines_are_understood() -> None:
    data = reply(200, via_name="v", call_id_name="i", eol="\n")
    assert parse_response(data) == Response(200, "OK", "c0ffee", "z9hG4bKabc")
    assert PROBE.answer(data) == 200


def test_the_top_via_decides_and_folded_lines_are_joined() -> None:
    data = (
        b"SIP/2.0 200 OK\r\n"
        b"Via: SIP/2.0/UDP 10.0.0.1:5060\r\n"
        b" ;branch=z9hG4bKtop, SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKsecond\r\n"
        b"Via: SIP/2.0/UDP 10.0.0.3;branch=z9hG4bKthird\r\n"
        b"Call-ID: c0ffee\r\n\r\n"
    )
    assert parse_response(data) == Response(200, "OK", "c0ffee", "z9hG4bKtop")


def test_a_response_without_the_headers_parses_but_answers_nothing() -> None:
    data = b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"
    assert parse_response(data) == Response(200, "OK", None, None)
    assert PROBE.answer(data) is None


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"OPTIONS sip:x SIP/2.0\r\n\r\n",  # a request, not a response
        b"SIP/2.0 2000 OK\r\n\r\n",
        b"SIP/2.0 099 Low\r\n\r\n",
        b"SIP/3.0 200 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n\r\n",
        b"SIP/2.0 200 OK\r\nno colon here\r\n\r\n",
    ],
)
def test_what_is_not_a_sip_response_is_a_protocol_error(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_response(data)
    assert PROBE.answer(data) is None


@given(
    status=st.integers(100, 699),
    reason=reasons,
    call_id=tokens,
    branch=tokens,
    via_name=st.sampled_from(["Via", "via", "VIA", "v", "V"]),
    call_id_name=st.sampled_from(["Call-ID", "call-id", "CALL-ID", "i", "I"]),
    eol=st.sampled_from(["\r\n", "\n"]),
)
def test_responses_round_trip_through_the_parser(
    status: int,
    reason: str,
    call_id: str,
    branch: str,
    via_name: str,
    call_id_name: str,
    eol: str,
) -> None:
    data = reply(
        status,
        call_id=call_id,
        branch=branch,
        reason=reason,
        via_name=via_name,
        call_id_name=call_id_name,
        eol=eol,
    )
    assert parse_response(data) == Response(status, reason, call_id, branch)
    probe = OptionsProbe(
        "127.0.0.1", 5060, "127.0.0.1", 40000, call_id=call_id, branch=branch, tag="t"
    )
    assert probe.answer(data) == (status if status >= 200 else None)


@pytest.mark.faults
@given(st.binary(max_size=600))
def test_any_datagram_parses_or_is_a_protocol_error(data: bytes) -> None:
    try:
        response = parse_response(data)
    except ProtocolError:
        assert PROBE.answer(data) is None
    else:
        assert 100 <= response.status <= 699


@pytest.mark.faults
@given(st.text(max_size=300))
def test_garbage_after_a_valid_status_line_never_crashes(rest: str) -> None:
    data = ("SIP/2.0 200 OK\r\n" + rest).encode("utf-8", "surrogatepass")
    try:
        response = parse_response(data)
    except ProtocolError:
        return
    assert response.status == 200
