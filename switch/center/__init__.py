"""The contact center's app side: the queues as the channels use them, the agents' and
queues' API, and (later) callbacks, statistics and prompts. The decisions themselves are
the actors' (:mod:`actors.routing`, :mod:`actors.agent`, :mod:`actors.call`)."""
