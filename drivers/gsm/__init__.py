"""GSM/LTE modems on USB serial: AT engine, SMS codec, modem driver, simulated modem.

- :mod:`drivers.gsm.atcore` — the sans-IO AT engine;
- :mod:`drivers.gsm.pdu`, :mod:`~drivers.gsm.gsm7`, :mod:`~drivers.gsm.reassembly`,
  :mod:`~drivers.gsm.ussd` — the SMS/USSD codecs;
- :mod:`drivers.gsm.gsm_modem` — :class:`Modem`, the asyncio driver of one port;
- :mod:`drivers.gsm.values` — what the driver hands to the core (and the sink it needs);
- :mod:`drivers.gsm.states`, :mod:`~drivers.gsm.quirks` — lifecycle table, model quirks;
- :mod:`drivers.gsm.simulator` — a scripted modem on a pty (demo, tests, technicians).
"""
