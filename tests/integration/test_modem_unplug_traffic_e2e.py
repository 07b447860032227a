"""The modem unplugged (its pty closed) and plugged back three times, and a modem that
stops answering twice, while SMS flow both ways (:mod:`tests.integration.
modem_campaign`): the switch says what is wrong while it lasts (``/api/v1/modems``,
``/api/v1/health``), comes back by itself, and loses nothing: every inbound SMS once in
its journey, every message answered 202 sent, the SIM empty, one contact per number.
A part whose ``+CMGS`` answer was cut by the fault may go out twice (at least once).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("drivers.gsm.modem")

from tests.integration.modem_campaign import ModemCampaign
from tests.integration.sms_traffic import Figures

pytestmark = [pytest.mark.integration, pytest.mark.faults]

SEED = int(os.environ.get("FAULTS_SEED", "20261208"))


def assert_nothing_lost(f: Figures) -> None:
    print(f.as_dict())
    assert f.inbound_sent >= 5 and f.outbound_acknowledged >= 5, f
    assert (f.inbound_lost, f.inbound_duplicated, f.inbound_incomplete) == (0, 0, 0), f
    assert f.left_on_sim == 0, f
    assert f.outbound_lost == 0 and f.outbound_sent == f.outbound_acknowledged, f
    assert f.outbound_not_final == 0 and f.outbound_journey_wrong == 0, f
    assert f.outbound_duplicated + f.outbound_parts_resent <= f.faults, f
    assert f.contacts_not_one == [], f


def test_unplugged_and_replugged_mid_traffic_loses_nothing_and_says_so(tmp_path: Path) -> None:
    campaign = ModemCampaign(tmp_path, "unplug", SEED)
    assert_nothing_lost(campaign.run())
    assert len(campaign.seen) == 3
    assert all(h["modems"][0]["state"] != "ready" for h in campaign.seen), campaign.seen
    assert campaign.health_after["status"] == "ok", campaign.health_after


@pytest.mark.timeout(480)  # two silences, each noticed only when the network's answer
# is overdue (60 s), the recovery and the backlog's drain: over the suite's 120 s
def test_a_modem_that_stops_answering_mid_traffic_loses_nothing_and_says_so(
    tmp_path: Path,
) -> None:
    campaign = ModemCampaign(tmp_path, "silent", SEED, faults=2)
    assert_nothing_lost(campaign.run())
    assert len(campaign.seen) == 2
    assert all(h["modems"][0]["last_error"] for h in campaign.seen), campaign.seen
    assert campaign.health_after["status"] == "ok", campaign.health_after
