"""The media plane: pjsua2 worker processes, their pool, and the typed commands and
events the core exchanges with them (:mod:`drivers.sip.media.ops`)."""
