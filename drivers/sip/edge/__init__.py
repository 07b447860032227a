"""The SIP edge: Kamailio, configured and run by the switch.

- :mod:`~drivers.sip.edge.render` — the Kamailio config, a pure function of the settings
  (``kamailio.cfg.tmpl`` next to it);
- :mod:`~drivers.sip.edge.subscribers` — the SQLite file Kamailio reads (agents,
  workers, trunk registrations);
- :mod:`~drivers.sip.edge.supervisor` — Kamailio's process lifecycle;
- :mod:`~drivers.sip.edge.rpc` — queries to a running Kamailio (JSON-RPC, kamcmd);
- :mod:`~drivers.sip.edge.options` — the SIP OPTIONS probe codec (sans-IO), and
  :mod:`~drivers.sip.edge.probe` — ``sip_options``, its asyncio client.

Imports nothing here (the package's modules are loaded where they are used); nothing of
the edge imports the media plane (:mod:`drivers.sip.media`).
"""
