"""kill -9 at random moments while SMS flow both ways and calls are up: counted.

The campaign (:mod:`tests.integration.kill9_campaign`) kills `switch run` four times,
each time with two trunk calls up (one bridged to the agent, one in the queue) while
the network delivers SMS and an API client posts SMS with idempotency keys, retrying
across the kills. What is guaranteed, and asserted:

- inbound: every SMS the network delivered is in its sender's journey exactly once,
  whole, and nothing is left on the SIM;
- outbound: every message answered 202 is submitted by the modem, is ``sent`` or
  ``delivered`` in the API and has one ``message_out`` in its journey. Submission is at
  least once: a kill between ``+CMGS`` and the commit of the references resends the
  one message in flight, so the copies beyond the first are at most one per kill
  (docs/gsm.md, docs/reliability.md give the measured rate);
- every phone number has one contact;
- every call that started has exactly one ``call_ended`` with a cause, and the calls
  that were up at a kill ended with ``switch_restarted``.

``FAULTS_SEED`` chooses another seed (the figures are printed with ``-s``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("drivers.gsm.modem")

from tests.integration.kamailio_harness import needs_kamailio_and_sipp
from tests.integration.kill9_campaign import run_campaign
from tests.integration.sms_traffic import Plan

pytestmark = [pytest.mark.integration, pytest.mark.faults, needs_kamailio_and_sipp]

SEED = int(os.environ.get("FAULTS_SEED", "20261207"))


@pytest.mark.timeout(240)
def test_kill9_with_sms_both_ways_and_calls_up_loses_and_duplicates_nothing(
    tmp_path: Path,
) -> None:
    f = run_campaign(tmp_path, Plan(seed=SEED, kills=4))
    print(f.as_dict())
    assert f.faults == 4
    # inbound: exactly once, whole, SIM empty
    assert f.inbound_sent >= 10, f
    assert (f.inbound_lost, f.inbound_duplicated, f.inbound_incomplete) == (0, 0, 0), f
    assert f.inbound_received == f.inbound_sent and f.left_on_sim == 0, f
    # outbound: every acknowledged message out, at least once; a resend only per kill
    assert f.outbound_acknowledged >= 10 and f.outbound_retried >= 1, f
    assert f.outbound_lost == 0 and f.outbound_sent == f.outbound_acknowledged, f
    assert f.outbound_not_final == 0 and f.outbound_journey_wrong == 0, f
    assert f.outbound_duplicated + f.outbound_parts_resent <= f.faults, f
    # contacts and calls
    assert f.contacts_not_one == [], f
    assert f.calls_up_at_kill == 2 * f.faults, f  # both phones' calls up at each kill
    assert f.calls_started == 2 * f.faults and f.calls_ended_once == f.calls_started, f
    assert (f.calls_not_ended, f.calls_ended_twice, f.calls_up_not_restarted) == (0, 0, 0), f
    assert set(f.causes) == {"switch_restarted"}, f
