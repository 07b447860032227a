"""Live push to the desktop: an in-process bus of what changed, fed by the actors'
shells, and what each signed-in person may see of it.

- :mod:`switch.live.bus` — :class:`~switch.live.bus.Bus`, :class:`~switch.live.bus.LiveEvent`,
  bounded subscriptions, and :func:`~switch.live.bus.visible` (the role filter);
- :mod:`switch.live.feed` — :class:`~switch.live.feed.LiveFeed`: turns agent changes,
  committed store writes and the router's queue counts into events, and builds the
  context of an offer (who is calling, their last contacts, IVR choices, CSAT).

The WebSocket that carries them is :mod:`switch.api.live`.
"""

from switch.live.bus import Bus, LiveEvent, Subscription, Viewer, visible
from switch.live.feed import LiveFeed

__all__ = ["Bus", "LiveEvent", "LiveFeed", "Subscription", "Viewer", "visible"]
