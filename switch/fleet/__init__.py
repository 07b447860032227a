"""Fleet operations over MQTT: telemetry (:mod:`~switch.fleet.telemetry`), operational
events (:mod:`~switch.fleet.watch`), remote commands (:mod:`~switch.fleet.commands`),
and the service that ties them to the box's link (:mod:`~switch.fleet.service`)."""
